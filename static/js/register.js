// Registration page: mark the documents the chosen category needs, and offer only the chosen
// country's regions. The server checks both again; without this script every field still works.
(function () {
  "use strict";
  var form = document.getElementById("registration-form");
  if (!form) return;
  var category = form.querySelector("[name=category]");
  var country = form.querySelector("[name=country]");
  var region = form.querySelector("[name=region]");

  function updateDocuments() {
    var option = category.options[category.selectedIndex];
    var required = (option && option.dataset.requiredDocuments || "").split(" ").filter(Boolean);
    form.querySelectorAll("input[type=file][data-document-type]").forEach(function (input) {
      var needed = required.indexOf(input.dataset.documentType) !== -1;
      var group = input.closest(".mb-3");
      var label = group && group.querySelector("label");
      input.required = needed;
      if (label) {
        var marker = label.querySelector(".required-marker");
        if (needed && !marker) {
          marker = document.createElement("span");
          marker.className = "required-marker text-danger";
          marker.textContent = " *";
          label.appendChild(marker);
        } else if (!needed && marker) {
          marker.remove();
        }
      }
    });
  }

  var allRegions = region ? Array.prototype.slice.call(region.options) : [];
  function updateRegions() {
    if (!region) return;
    var code = country.value;
    var selected = region.value;
    region.innerHTML = "";
    var matching = allRegions.filter(function (o) { return !o.value || o.dataset.country === code; });
    matching.forEach(function (o) { region.appendChild(o); });
    region.value = matching.some(function (o) { return o.value === selected; }) ? selected : "";
    region.closest(".mb-3").hidden = matching.length <= 1;
  }

  category.addEventListener("change", updateDocuments);
  country.addEventListener("change", updateRegions);
  updateDocuments();
  updateRegions();
})();
