def count_ways(n: int) -> int:
    below, here = 0, 1  # ways to reach step -1 (none) and step 0 (stand still)
    for _ in range(n):
        below, here = here, below + here
    return here
