def is_valid_brackets(s: str) -> bool:
    opener = {")": "(", "]": "[", "}": "{"}
    open_now: list[str] = []
    for char in s:
        if char in opener:
            if not open_now or open_now.pop() != opener[char]:
                return False
        else:
            open_now.append(char)
    return not open_now
