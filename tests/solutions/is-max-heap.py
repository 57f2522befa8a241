def is_max_heap(values: list[int]) -> bool:
    n = len(values)
    for i in range(n):
        for child in (2 * i + 1, 2 * i + 2):
            if child < n and values[child] > values[i]:
                return False
    return True
