function runningSum(nums) {
  let total = 0;
  return nums.map((value) => {
    total += value;
    return total;
  });
}
