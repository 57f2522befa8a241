from collections import deque


def can_finish(courses: int, requires: list[list[int]]) -> bool:
    waiting = [0] * courses
    dependents: list[list[int]] = [[] for _ in range(courses)]
    for course, needed in requires:
        waiting[course] += 1
        dependents[needed].append(course)
    ready = deque(c for c in range(courses) if waiting[c] == 0)
    done = 0
    while ready:
        course = ready.popleft()
        done += 1
        for later in dependents[course]:
            waiting[later] -= 1
            if waiting[later] == 0:
                ready.append(later)
    return done == courses
