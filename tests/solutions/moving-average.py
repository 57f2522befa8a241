from collections import deque


def moving_averages(values: list[int], size: int) -> list[float]:
    window: deque[int] = deque()
    total = 0
    averages: list[float] = []
    for value in values:
        window.append(value)
        total += value
        if len(window) > size:
            total -= window.popleft()
        averages.append(total / len(window))
    return averages
