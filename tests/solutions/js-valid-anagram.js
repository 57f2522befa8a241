function isAnagram(a, b) {
  if (a.length !== b.length) return false;
  const counts = new Map();
  for (const c of a) counts.set(c, (counts.get(c) || 0) + 1);
  for (const c of b) {
    const left = (counts.get(c) || 0) - 1;
    if (left < 0) return false;
    counts.set(c, left);
  }
  return true;
}
