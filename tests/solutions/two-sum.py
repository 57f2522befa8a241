def two_sum(nums: list[int], target: int) -> list[int]:
    index_of: dict[int, int] = {}
    for j, value in enumerate(nums):
        partner = target - value
        if partner in index_of:
            return [index_of[partner], j]
        index_of[value] = j
    return []
