def count_queen_layouts(n: int) -> int:
    columns: set[int] = set()
    downhill: set[int] = set()
    uphill: set[int] = set()

    def place(row: int) -> int:
        if row == n:
            return 1
        total = 0
        for col in range(n):
            if col in columns or row - col in downhill or row + col in uphill:
                continue
            columns.add(col)
            downhill.add(row - col)
            uphill.add(row + col)
            total += place(row + 1)
            columns.remove(col)
            downhill.remove(row - col)
            uphill.remove(row + col)
        return total

    return place(0)
