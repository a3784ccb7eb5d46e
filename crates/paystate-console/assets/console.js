// paystate console: the one script, optional. Pages work without it; with it, every time's
// hover text also gives the viewer's own zone (the page itself states times in UTC).
document.querySelectorAll("time[datetime]").forEach(function (el) {
  var at = new Date(el.getAttribute("datetime"));
  if (isNaN(at)) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  el.title = el.title + " · " + at.toLocaleString() + " " + zone;
});
