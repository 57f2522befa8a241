def rotate_clockwise(grid: list[list[int]]) -> list[list[int]]:
    rows, cols = len(grid), len(grid[0])
    return [[grid[rows - 1 - k][j] for k in range(rows)] for j in range(cols)]
