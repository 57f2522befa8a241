def reverse_list(head: list | None) -> list | None:
    previous = None
    current = head
    while current is not None:
        following = current[1]
        current[1] = previous
        previous = current
        current = following
    return previous
