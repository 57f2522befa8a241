function minRooms(meetings) {
  const starts = meetings.map((m) => m[0]).sort((a, b) => a - b);
  const ends = meetings.map((m) => m[1]).sort((a, b) => a - b);
  let rooms = 0;
  let e = 0;
  for (const s of starts) {
    if (ends[e] <= s) e += 1;
    else rooms += 1;
  }
  return rooms;
}
