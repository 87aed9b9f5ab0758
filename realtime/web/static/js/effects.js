// Screen effects that messages ask for (Message.effects, from the server's
// trigger words). They are decoration: hidden from assistive technology,
// never blocking input, and not played at all when the user prefers
// reduced motion.

const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");

const COLORS = ["#ff6b6b", "#ffb347", "#ffd93d", "#6bcb77", "#4d96ff", "#c77dff", "#ff8fab"];
const LIFETIME_MS = 6500;
// Several effects at once (a burst of "congrats") would only cost frames.
const MAX_CONCURRENT = 3;
let running = 0;

/** effectsAllowed reports whether effects may play now. */
export function effectsAllowed() {
  return !reducedMotion.matches;
}

/** effectIcon is the emoji shown next to a message with that effect. */
export function effectIcon(name) {
  return { balloons: "🎈", confetti: "🎉", hearts: "💖", fireworks: "🎆", snow: "❄️" }[name] || "✨";
}

/** playEffect starts the named effect; unknown names get sparkles. */
export function playEffect(name) {
  if (!effectsAllowed() || running >= MAX_CONCURRENT) return false;
  const layer = document.getElementById("effects");
  if (!layer) return false;
  const kind = ["balloons", "confetti", "hearts"].includes(name) ? name : "sparkles";
  const count = kind === "confetti" ? 90 : kind === "balloons" ? 18 : 24;
  const group = document.createElement("div");
  group.className = `effect effect-${kind}`;
  group.dataset.effect = name;
  for (let i = 0; i < count; i++) group.append(piece(kind));
  layer.append(group);
  layer.dataset.lastEffect = name;
  running++;
  setTimeout(() => {
    group.remove();
    running--;
  }, LIFETIME_MS);
  return true;
}

function rand(min, max) {
  return min + Math.random() * (max - min);
}

// Each piece gets its own position, colour, delay and drift through CSS
// custom properties (set through the CSSOM, which the CSP allows); the
// keyframes live in styles.css.
function piece(kind) {
  const el = document.createElement("span");
  el.className = "piece";
  const color = COLORS[Math.floor(Math.random() * COLORS.length)];
  el.style.setProperty("--x", `${rand(2, 98).toFixed(1)}vw`);
  el.style.setProperty("--drift", `${rand(-12, 12).toFixed(1)}vw`);
  el.style.setProperty("--delay", `${rand(0, kind === "confetti" ? 0.8 : 1.6).toFixed(2)}s`);
  el.style.setProperty("--dur", `${rand(3.2, 4.8).toFixed(2)}s`);
  el.style.setProperty("--color", color);
  el.style.setProperty("--spin", `${Math.round(rand(-720, 720))}deg`);
  el.style.setProperty("--size", `${rand(0.8, 1.3).toFixed(2)}`);
  if (kind === "hearts") el.textContent = "💖";
  if (kind === "sparkles") el.textContent = "✨";
  return el;
}
