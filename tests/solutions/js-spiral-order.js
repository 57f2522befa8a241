function spiralOrder(grid) {
  const out = [];
  let top = 0;
  let bottom = grid.length - 1;
  let left = 0;
  let right = grid[0].length - 1;
  while (top <= bottom && left <= right) {
    for (let c = left; c <= right; c += 1) out.push(grid[top][c]);
    top += 1;
    for (let r = top; r <= bottom; r += 1) out.push(grid[r][right]);
    right -= 1;
    if (top <= bottom) {
      for (let c = right; c >= left; c -= 1) out.push(grid[bottom][c]);
      bottom -= 1;
    }
    if (left <= right) {
      for (let r = bottom; r >= top; r -= 1) out.push(grid[r][left]);
      left += 1;
    }
  }
  return out;
}
