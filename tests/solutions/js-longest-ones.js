function longestOnes(bits, k) {
  let left = 0;
  let zeros = 0;
  let best = 0;
  for (let right = 0; right < bits.length; right += 1) {
    if (bits[right] === 0) zeros += 1;
    while (zeros > k) {
      if (bits[left] === 0) zeros -= 1;
      left += 1;
    }
    best = Math.max(best, right - left + 1);
  }
  return best;
}
