def tree_depth(root: list | None) -> int:
    if root is None:
        return 0
    _, left, right = root
    return 1 + max(tree_depth(left), tree_depth(right))
