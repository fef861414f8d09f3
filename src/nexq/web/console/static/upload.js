// Uploads from the object browser, straight from disk to Nexq: a file up to one part size
// goes in one PUT; a larger one becomes a multipart upload whose parts are File.slice()s
// sent three at a time, so even a 2 GiB file is never read into memory. Progress comes
// from XMLHttpRequest upload events; Cancel or a failure aborts the multipart upload so
// nothing half-written stays behind.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.Blob) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const base = form.dataset.base;
  const prefix = form.dataset.prefix || "";
  const minPart = Number(form.dataset.partSize);
  const input = form.querySelector('input[type="file"]');
  const list = document.getElementById("upload-list");
  const PARALLEL_PARTS = 3;
  const PART_ATTEMPTS = 3;
  const MAX_PARTS = 10000;

  // A size as the pages and dcp write it (nexq.display.size): decimal units, as storage is
  // billed; one decimal below 100 of a unit, none from there or for a whole number; the
  // unit chosen after rounding, so that 999,999 bytes read 1.0 MB rather than 1000 kB.
  function human(bytes) {
    if (bytes < 1000) return bytes + " B";
    const units = ["kB", "MB", "GB", "TB", "PB"];
    let value = bytes;
    for (let unit = 0; unit < units.length; unit += 1) {
      value /= 1000;
      let shown = value.toFixed(1);
      if (Number.isInteger(value)) shown = String(value);
      else if (Number(shown) >= 100) shown = value.toFixed(0);
      if (Number(shown) < 1000 || unit === units.length - 1) return shown + " " + units[unit];
    }
    return bytes + " B"; // not reached: the last unit returns
  }

  function send(method, url, body, options) {
    const xhr = new XMLHttpRequest();
    const answer = new Promise(function (resolve, reject) {
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Content-Type", options.type || "application/json");
      if (options.progress) {
        xhr.upload.onprogress = function (event) { options.progress(event.loaded); };
      }
      xhr.onload = function () {
        let data = {};
        try { data = JSON.parse(xhr.responseText || "{}"); } catch (ignored) { data = {}; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject(new Error(data.error || "Nexq answered " + xhr.status + "."));
      };
      xhr.onerror = function () { reject(new Error("The connection to Nexq failed.")); };
      xhr.onabort = function () { reject(new Error("Cancelled.")); };
      xhr.send(body);
    });
    if (options.job) options.job.requests.add(xhr);
    return answer.finally(function () { if (options.job) options.job.requests.delete(xhr); });
  }

  function row(file) {
    const item = document.createElement("li");
    item.className = "upload-item";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = "Waiting";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "btn btn-small";
    cancel.textContent = "Cancel";
    cancel.setAttribute("aria-label", "Cancel the upload of " + file.name);
    const middle = document.createElement("div");
    middle.append(bar, status);
    item.append(name, middle, cancel);
    list.append(item);
    const job = {
      requests: new Set(),
      cancelled: false,
      show: function (loaded) {
        bar.value = loaded;
        status.textContent = human(loaded) + " of " + human(file.size);
      },
      finish: function (ok, text) {
        item.classList.add(ok ? "done" : "failed");
        status.textContent = text;
        cancel.remove();
        if (ok) bar.value = bar.max;
      },
      stop: function () {
        job.cancelled = true;
        job.requests.forEach(function (xhr) { xhr.abort(); });
      },
    };
    cancel.addEventListener("click", job.stop);
    return job;
  }

  async function uploadWhole(file, key, job) {
    const url = base + "/object?key=" + encodeURIComponent(key);
    await send("PUT", url, file, {
      type: file.type || "application/octet-stream",
      progress: job.show,
      job: job,
    });
  }

  async function uploadParts(file, key, job) {
    const partSize = Math.max(minPart, Math.ceil(file.size / MAX_PARTS));
    const json = function (value) { return JSON.stringify(value); };
    const created = await send("POST", base + "/uploads", json({
      key: key, content_type: file.type || "application/octet-stream",
    }), { job: job });
    const uploads = base + "/uploads/" + encodeURIComponent(created.upload_id);
    const count = Math.ceil(file.size / partSize);
    const loaded = new Array(count).fill(0);
    const etags = new Array(count);
    let next = 0;
    const total = function () { return loaded.reduce(function (a, b) { return a + b; }, 0); };
    async function worker() {
      while (next < count && !job.cancelled) {
        const index = next;
        next += 1;
        const blob = file.slice(index * partSize, Math.min(file.size, (index + 1) * partSize));
        const url = uploads + "/parts/" + (index + 1) + "?key=" + encodeURIComponent(key);
        let part = null;
        // A part that fails is sent again (twice at most): a long upload should survive
        // one dropped connection without starting over.
        for (let attempt = 1; part === null; attempt += 1) {
          try {
            part = await send("PUT", url, blob, {
              type: "application/octet-stream",
              progress: function (n) { loaded[index] = n; job.show(total()); },
              job: job,
            });
          } catch (error) {
            if (job.cancelled || attempt >= PART_ATTEMPTS) throw error;
            loaded[index] = 0;
          }
        }
        loaded[index] = blob.size;
        etags[index] = part.etag;
        job.show(total());
      }
      if (job.cancelled) throw new Error("Cancelled.");
    }
    try {
      const workers = [];
      for (let i = 0; i < Math.min(PARALLEL_PARTS, count); i += 1) workers.push(worker());
      await Promise.all(workers);
      await send("POST", uploads + "/complete", json({
        key: key,
        parts: etags.map(function (etag, i) { return { number: i + 1, etag: etag }; }),
      }), { job: job });
    } catch (error) {
      job.stop();
      await send("POST", uploads + "/abort", json({ key: key }), {}).catch(function () {});
      throw error;
    }
  }

  async function uploadAll(files) {
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    list.replaceChildren();
    let failures = 0;
    const jobs = files.map(function (file) { return [file, row(file)]; });
    for (const [file, job] of jobs) {
      if (job.cancelled) { job.finish(false, "Cancelled."); failures += 1; continue; }
      const key = prefix + file.name;
      try {
        job.show(0);
        if (file.size <= minPart) await uploadWhole(file, key, job);
        else await uploadParts(file, key, job);
        job.finish(true, "Uploaded " + human(file.size));
      } catch (error) {
        failures += 1;
        job.finish(false, error.message);
      }
    }
    button.disabled = false;
    input.value = "";
    if (failures === 0) window.location.reload();
  }

  form.addEventListener("submit", function (event) {
    if (!input.files || input.files.length === 0) return;
    event.preventDefault();
    uploadAll(Array.from(input.files));
  });

  const card = form.closest(".card") || form;
  card.addEventListener("dragover", function (event) {
    event.preventDefault();
    card.classList.add("dragging");
  });
  card.addEventListener("dragleave", function () { card.classList.remove("dragging"); });
  card.addEventListener("drop", function (event) {
    event.preventDefault();
    card.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files.length) {
      uploadAll(Array.from(event.dataTransfer.files));
    }
  });
})();
