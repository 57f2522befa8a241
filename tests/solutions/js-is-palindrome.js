function isPalindrome(s) {
  const kept = s.toLowerCase().replace(/[^a-z0-9]/g, '');
  let left = 0;
  let right = kept.length - 1;
  while (left < right) {
    if (kept[left] !== kept[right]) return false;
    left += 1;
    right -= 1;
  }
  return true;
}
