// Loads the studio's WebAssembly and starts it on the canvas. The module's own start code
// reads the page's address (?demo=tiny&backend=webgpu|cpu) and shows any error above the
// canvas; this file only reports a module that cannot load at all.
import init, * as studio from "./darts-pt.js";

function fail(message) {
  const el = document.getElementById("darts-pt-error");
  el.textContent = message;
  el.style.display = "block";
  const result = document.createElement("pre");
  result.id = "darts-pt-result";
  result.textContent = JSON.stringify({ state: "error", backend: "", seconds: 0, error: message });
  document.body.appendChild(result);
}

if (typeof WebAssembly !== "object") {
  fail("This browser cannot run WebAssembly.");
} else {
  init().then(() => { window.dartsPt = studio; })
    .catch((e) => fail(`darts-pt cannot load: ${e}`));
}
