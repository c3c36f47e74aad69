// Reads an iCalendar feed on stdin and prints, as JSON, every occurrence start in
// [argv[2], argv[3]) as a UTC instant, per UID -- the way Thunderbird's ical.js sees it.
// With argv[4] "--with-cancelled", a STATUS:CANCELLED instance is listed too (marked), as
// calendar apps that show a cancelled instance struck through, or not at all, both see it.
import ICAL from "ical.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const root = new ICAL.Component(ICAL.parse(Buffer.concat(chunks).toString("utf8")));
for (const vtz of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(new ICAL.Timezone(vtz));
}
const from = ICAL.Time.fromJSDate(new Date(process.argv[2]), true);
const until = ICAL.Time.fromJSDate(new Date(process.argv[3]), true);
const out = {};
const items = [...root.getAllSubcomponents("vevent"), ...root.getAllSubcomponents("vtodo")];
const masters = items.filter((c) => !c.hasProperty("recurrence-id"));
for (const component of masters) {
  const event = new ICAL.Event(component);
  for (const other of items) {
    if (other !== component && other.getFirstPropertyValue("uid") === event.uid) {
      event.relateException(other);
    }
  }
  const uid = event.uid;
  out[uid] = [];
  const iterator = event.iterator();
  for (let next = iterator.next(); next; next = iterator.next()) {
    if (next.compare(until) >= 0) break;
    const details = event.getOccurrenceDetails(next);
    const status = details.item.component.getFirstPropertyValue("status");
    const cancelled = Boolean(status && String(status).toUpperCase() === "CANCELLED");
    if (cancelled && process.argv[4] !== "--with-cancelled") continue;
    if (details.startDate.isDate) {  // all-day: a date, in no time zone
      out[uid].push({ date: details.startDate.toString(), summary: details.item.summary, cancelled });
      continue;
    }
    const start = details.startDate.toJSDate();
    if (start >= new Date(process.argv[2]) && start < new Date(process.argv[3])) {
      const end = details.endDate.toJSDate().toISOString();
      out[uid].push({ start: start.toISOString(), end, summary: details.item.summary, cancelled });
    }
  }
}
process.stdout.write(JSON.stringify(out));
