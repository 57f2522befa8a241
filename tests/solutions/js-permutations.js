function permutations(items) {
  const result = [];
  const current = [];
  const used = new Set();
  function build() {
    if (current.length === items.length) {
      result.push([...current]);
      return;
    }
    for (const item of items) {
      if (used.has(item)) continue;
      used.add(item);
      current.push(item);
      build();
      current.pop();
      used.delete(item);
    }
  }
  build();
  return result;
}
