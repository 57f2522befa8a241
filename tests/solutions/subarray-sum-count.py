def count_runs_with_sum(nums: list[int], target: int) -> int:
    seen: dict[int, int] = {0: 1}
    running = count = 0
    for x in nums:
        running += x
        count += seen.get(running - target, 0)
        seen[running] = seen.get(running, 0) + 1
    return count
