function levelOrder(root) {
  const result = [];
  let level = root ? [root] : [];
  while (level.length > 0) {
    result.push(level.map((node) => node[0]));
    const next = [];
    for (const [, left, right] of level) {
      if (left) next.push(left);
      if (right) next.push(right);
    }
    level = next;
  }
  return result;
}
