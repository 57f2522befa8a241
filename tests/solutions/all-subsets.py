def all_subsets(items: list[int]) -> list[list[int]]:
    result: list[list[int]] = []
    chosen: list[int] = []

    def explore(start: int) -> None:
        result.append(chosen[:])
        for j in range(start, len(items)):
            chosen.append(items[j])
            explore(j + 1)
            chosen.pop()

    explore(0)
    return result
