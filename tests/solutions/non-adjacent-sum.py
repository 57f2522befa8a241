def max_non_adjacent(values: list[int]) -> int:
    two_back = one_back = 0
    for value in values:
        two_back, one_back = one_back, max(one_back, two_back + value)
    return one_back
