def longest_unique_substring(s: str) -> int:
    last_at: dict[str, int] = {}
    start = best = 0
    for end, char in enumerate(s):
        if last_at.get(char, -1) >= start:
            start = last_at[char] + 1
        last_at[char] = end
        best = max(best, end - start + 1)
    return best
