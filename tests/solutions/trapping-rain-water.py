def trap_water(heights: list[int]) -> int:
    left, right = 0, len(heights) - 1
    wall_left = wall_right = 0
    held = 0
    while left < right:
        if heights[left] <= heights[right]:
            wall_left = max(wall_left, heights[left])
            held += wall_left - heights[left]
            left += 1
        else:
            wall_right = max(wall_right, heights[right])
            held += wall_right - heights[right]
            right -= 1
    return held
