function mergeLists(a, b) {
  const dummy = [0, null];
  let tail = dummy;
  while (a !== null && b !== null) {
    if (a[0] <= b[0]) {
      tail[1] = a;
      a = a[1];
    } else {
      tail[1] = b;
      b = b[1];
    }
    tail = tail[1];
  }
  tail[1] = a !== null ? a : b;
  return dummy[1];
}
