function floodFill(image, row, col, colour) {
  const old = image[row][col];
  if (old === colour) return image;
  const stack = [[row, col]];
  while (stack.length > 0) {
    const [r, c] = stack.pop();
    if (r < 0 || c < 0 || r >= image.length || c >= image[0].length) continue;
    if (image[r][c] !== old) continue;
    image[r][c] = colour;
    stack.push([r + 1, c], [r - 1, c], [r, c + 1], [r, c - 1]);
  }
  return image;
}
