// Tile layout for the meeting page: up to 7 tiles (the own pusher and six
// players) in a grid that fills the area above the toolbar.

/**
 * @param {number} count number of tiles (0..7)
 * @param {number} width area width in px
 * @param {number} height area height in px
 * @returns {{left: number, top: number, width: number, height: number}[]}
 */
function layout(count, width, height) {
  if (count <= 0) return [];
  const cols = count === 1 ? 1 : count === 2 ? 1 : count <= 6 ? 2 : 3;
  const rows = Math.ceil(count / cols);
  const w = Math.floor(width / cols);
  const h = Math.floor(height / rows);
  const tiles = [];
  for (let i = 0; i < count; i++) {
    tiles.push({ left: (i % cols) * w, top: Math.floor(i / cols) * h, width: w, height: h });
  }
  return tiles;
}

module.exports = { layout };
