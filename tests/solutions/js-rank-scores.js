function rankScores(entries) {
  const ordered = [...entries].sort((a, b) => {
    if (a[1] !== b[1]) return b[1] - a[1];
    if (a[0] < b[0]) return -1;
    return a[0] > b[0] ? 1 : 0;
  });
  return ordered.map((entry) => entry[0]);
}
