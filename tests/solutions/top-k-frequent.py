def top_k_frequent(nums: list[int], k: int) -> list[int]:
    counts: dict[int, int] = {}
    for value in nums:
        counts[value] = counts.get(value, 0) + 1
    by_count: list[list[int]] = [[] for _ in range(len(nums) + 1)]
    for value, count in counts.items():
        by_count[count].append(value)
    chosen: list[int] = []
    for count in range(len(nums), 0, -1):
        chosen.extend(by_count[count])
        if len(chosen) >= k:
            break
    return chosen[:k]
