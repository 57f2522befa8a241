from collections import Counter


def min_window(s: str, t: str) -> str:
    short = Counter(t)
    missing = len(t)
    best_start, best_len = 0, len(s) + 1
    left = 0
    for right, char in enumerate(s):
        if short[char] > 0:
            missing -= 1
        short[char] -= 1
        while missing == 0:
            if right - left + 1 < best_len:
                best_start, best_len = left, right - left + 1
            short[s[left]] += 1
            if short[s[left]] > 0:
                missing += 1
            left += 1
    return "" if best_len > len(s) else s[best_start:best_start + best_len]
