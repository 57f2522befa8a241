import heapq


def kth_largest(nums: list[int], k: int) -> int:
    kept: list[int] = []
    for value in nums:
        heapq.heappush(kept, value)
        if len(kept) > k:
            heapq.heappop(kept)
    return kept[0]
