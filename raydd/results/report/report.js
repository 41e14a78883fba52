"use strict";
// Leaderboards: click a column header to sort (numbers best first, text A-Z; click again to
// reverse; missing values always last); the filter form hides the rows that do not match.

function compareSortValues(a, b, numeric, sign) {
  if (a === "" || b === "") return (a === "") - (b === "");
  return sign * (numeric ? Number(a) - Number(b) : a.localeCompare(b));
}

function sortBoard(table, header) {
  const numeric = header.dataset.type === "number";
  const first = numeric ? "descending" : "ascending";
  const second = numeric ? "ascending" : "descending";
  const order = header.getAttribute("aria-sort") === first ? second : first;
  table.querySelectorAll("th").forEach((th) => th.setAttribute("aria-sort", "none"));
  header.setAttribute("aria-sort", order);
  const sign = order === "ascending" ? 1 : -1;
  const column = header.cellIndex;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);  // Array.prototype.sort is stable: ties keep their order
  rows.sort((a, b) => compareSortValues(a.cells[column].dataset.sort, b.cells[column].dataset.sort, numeric, sign));
  body.append(...rows);
}

function applyFilters() {
  const text = document.getElementById("filter-text").value.trim().toLowerCase();
  const chosen = Array.from(document.querySelectorAll("#filters select")).filter((s) => s.value !== "");
  document.querySelectorAll("table.leaderboard").forEach((table) => {
    const rows = Array.from(table.tBodies[0].rows);
    rows.forEach((row) => {
      const matches = chosen.every((s) => row.getAttribute("data-" + s.dataset.key) === s.value);
      row.hidden = !(matches && row.textContent.toLowerCase().includes(text));
    });
    const shown = rows.filter((row) => !row.hidden).length;
    table.nextElementSibling.textContent = shown + " of " + rows.length + " rows shown";
  });
}

document.querySelectorAll("table.leaderboard").forEach((table) => {
  table.querySelectorAll("th").forEach((th) => th.addEventListener("click", () => sortBoard(table, th)));
});
const filterForm = document.getElementById("filters");
if (filterForm) {
  filterForm.addEventListener("submit", (event) => event.preventDefault());  // Enter must not reload
  filterForm.addEventListener("input", applyFilters);
  filterForm.addEventListener("change", applyFilters);
}
