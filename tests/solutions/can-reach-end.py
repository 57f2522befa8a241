def can_reach_end(jumps: list[int]) -> bool:
    furthest = 0
    for i, step in enumerate(jumps):
        if i > furthest:
            return False
        furthest = max(furthest, i + step)
    return True
