def max_container(walls: list[int]) -> int:
    left, right = 0, len(walls) - 1
    best = 0
    while left < right:
        best = max(best, (right - left) * min(walls[left], walls[right]))
        if walls[left] < walls[right]:
            left += 1
        else:
            right -= 1
    return best
