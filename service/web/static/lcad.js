// Posts a label from the object page (POST /objects/{id}/labels with the key as a Bearer token), then reloads.
// The key is kept in this browser's localStorage so that an expert types it once.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("label-form");
  if (!form) return;
  const key = document.getElementById("label-key");
  key.value = localStorage.getItem("lcad-key") || "";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = document.getElementById("label-status");
    localStorage.setItem("lcad-key", key.value);
    const body = {
      kind: form.elements.kind.value,
      known_class: form.elements.known_class.value || null,
      note: form.elements.note.value,
    };
    const headers = {"Content-Type": "application/json", "Accept": "application/json"};
    if (key.value) headers["Authorization"] = "Bearer " + key.value;
    const url = "/objects/" + encodeURIComponent(form.dataset.objectId) + "/labels";
    const answer = await fetch(url, {method: "POST", headers, body: JSON.stringify(body)});
    if (answer.ok) {
      window.location.reload();
    } else {
      const problem = await answer.json().catch(() => ({}));
      status.textContent = "not saved: " + (JSON.stringify(problem.detail || problem) || answer.status);
    }
  });
});
