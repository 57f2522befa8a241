import heapq


def merge_sorted(lists: list[list[int]]) -> list[int]:
    fronts = [(values[0], which, 0) for which, values in enumerate(lists) if values]
    heapq.heapify(fronts)
    merged: list[int] = []
    while fronts:
        value, which, pos = heapq.heappop(fronts)
        merged.append(value)
        if pos + 1 < len(lists[which]):
            heapq.heappush(fronts, (lists[which][pos + 1], which, pos + 1))
    return merged
