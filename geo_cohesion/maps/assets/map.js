(function () {
  var map = __GC_MAP__;
  var DATA = <GC-DATA>;
  var TEXT = DATA.text;  // the words of the page, in the map's language (label catalogue)
  var byKey = Object.create(null);  // layer keys are user text ("__proto__" too): no prototype
  DATA.layers.forEach(function (l) { byKey[l.key] = l; });
  var active = DATA.layers[0].key;
  var FILL_OPACITY = DATA.basemap ? 0.7 : 0.85;
  if (DATA.basemap) {  // the one optional outside request: the configured tiles or WMS, with their attribution
    var base = {attribution: DATA.basemap.attribution, maxZoom: DATA.basemap.max_zoom};
    if (DATA.basemap.wms) {
      base.layers = DATA.basemap.wms.layers;
      base.format = DATA.basemap.wms.format;
      base.transparent = false;
      L.tileLayer.wms(DATA.basemap.url, base).addTo(map);
    } else {
      L.tileLayer(DATA.basemap.url, base).addTo(map);
    }
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function fmt(v) { return v === null ? null : v.toFixed(1).replace(".", ","); }
  // many districts: one canvas instead of an SVG path each; unpublished districts then get a canvas
  // pattern for their hatch (Leaflet hands fillColor to the canvas as its fillStyle)
  var RENDERER = DATA.canvas ? L.canvas({padding: 0.5}) : null;
  function canvasHatch() {
    var tile = document.createElement("canvas");
    tile.width = 8; tile.height = 8;
    var ctx = tile.getContext("2d");
    ctx.fillStyle = DATA.no_data; ctx.fillRect(0, 0, 8, 8);
    ctx.strokeStyle = "#737373"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(0, 8); ctx.lineTo(8, 0); ctx.moveTo(-2, 2); ctx.lineTo(2, -2);
    ctx.moveTo(6, 10); ctx.lineTo(10, 6); ctx.stroke();
    return ctx.createPattern(tile, "repeat");
  }
  var HATCH = DATA.canvas ? canvasHatch() : "url(#gc-hatch)";
  function styleOf(key) {
    return function (feature) {
      var l = byKey[key], i = feature.properties.i;
      var fill = l.suppressed[i] ? HATCH : l.colours[i];
      if (l.significance && l.significance[i]) {  // significantly above/below the city value (adjusted test)
        return {color: "#000000", weight: 2.6, opacity: 1, fillColor: fill, fillOpacity: FILL_OPACITY};
      }
      return {color: "#ffffff", weight: 1.2, opacity: 1, fillColor: fill, fillOpacity: FILL_OPACITY};
    };
  }
  function styleFor(feature) { return styleOf(active)(feature); }
  function tooltipFor(i, key) {
    var l = byKey[key === undefined ? active : key], box = el("div", null, "gc-tip");
    box.appendChild(el("b", DATA.names[i]));
    box.appendChild(el("div", TEXT.district_key + ": " + DATA.keys[i], "gc-key"));
    box.appendChild(el("div", l.label));
    var published = layerLines(box, l, i);
    var need = DATA.need_class ? DATA.need_class[i] : null;  // the need table's class, in every layer
    if (need) { box.appendChild(el("div", need, "gc-need")); }
    if (published && l.detail && l.detail[i]) {  // the layer's own lines (the need class only once)
      l.detail[i].split("\n").forEach(function (t) { if (t !== need) { box.appendChild(el("div", t)); } });
    }
    return box;
  }
  function layerLines(box, l, i) {  // the layer's value, interval, test, n, rank; false where none is shown
    if (l.suppressed[i]) {
      // n counts valid answers: 0 with a reason is a district whose respondents all skipped this score
      if (l.n[i] === 0 && !(l.reason && l.reason[i])) { box.appendChild(el("div", TEXT.no_respondents)); return false; }
      box.appendChild(el("div", l.reason && l.reason[i] ? TEXT.not_published + ": " + l.reason[i] : (DATA.suppressed_label || TEXT.too_few)));
      if (l.n[i] !== null) { box.appendChild(el("div", "n = " + l.n[i])); }
      return false;
    }
    if (l.values[i] === null) { box.appendChild(el("div", TEXT.no_data)); return false; }
    box.appendChild(el("div", TEXT.value + ": " + fmt(l.values[i]) + (l.unit ? " " + l.unit : "")));
    if (l.ci_low[i] !== null && l.ci_high[i] !== null) {
      box.appendChild(el("div", DATA.ci_label + ": " + fmt(l.ci_low[i]) + " – " + fmt(l.ci_high[i])));
    } else if (l.kind === "cohesion" || l.kind === "deviation") {  // no SE (fewer than 2 answers)
      box.appendChild(el("div", DATA.ci_label + ": –"));
    }
    if (l.significance && l.significance[i] !== null) {
      var verdict = l.significance[i] > 0 ? TEXT.significant_above : (l.significance[i] < 0 ? TEXT.significant_below : TEXT.not_significant);
      box.appendChild(el("div", verdict + " (" + l.significance_note + ")", "gc-significance"));
    }
    if (l.n[i] !== null) { box.appendChild(el("div", TEXT.respondents + ": n = " + l.n[i])); }
    if (l.rank_low) {  // rank and rank interval exactly as in their table; "–" where it has none
      if (l.rank[i] !== null && l.rank_low[i] !== null && l.rank_high[i] !== null) {
        // an interval over every rank (e.g. equal model estimates) gets no point rank (rank 1 of a tie)
        box.appendChild(el("div", l.rank_open && l.rank_open[i] ? TEXT.rank_open.replace("{n}", String(l.n_ranked))
          : TEXT.rank_interval.replace("{rank}", String(l.rank[i])).replace("{low}", String(l.rank_low[i]))
            .replace("{high}", String(l.rank_high[i])).replace("{n}", String(l.n_ranked)), "gc-rank"));
        if (l.rank_note) { box.appendChild(el("div", l.rank_note, "gc-rank-note")); }
      } else {
        box.appendChild(el("div", TEXT.rank_none, "gc-rank"));
      }
    } else if (l.rank[i] !== null) {
      box.appendChild(el("div", TEXT.rank.replace("{rank}", String(l.rank[i])).replace("{n}", String(l.n_ranked)), "gc-rank"));
    }
    if (l.estimator && l.estimator[i]) { box.appendChild(el("div", TEXT.estimator + ": " + l.estimator[i])); }
    return true;
  }
  var featureOf = [];  // district index -> its Leaflet layer (search, labels)
  var geo = L.geoJSON(DATA.geojson, {
    style: styleFor, renderer: RENDERER,
    onEachFeature: function (feature, layer) {
      featureOf[feature.properties.i] = layer;
      layer.bindTooltip(function () { return tooltipFor(feature.properties.i); }, {sticky: true});
      layer.on("mouseover", function () { layer.setStyle({weight: 3, color: "#333333"}); });
      layer.on("mouseout", function () { geo.resetStyle(layer); });
    }
  }).addTo(map);
  map.fitBounds(geo.getBounds(), {padding: [10, 10]});
  L.control.scale({imperial: false, position: "bottomleft"}).addTo(map);
  function addHatch(m) {
    var svg = m.getPanes().overlayPane.querySelector("svg");
    if (!svg) { return; }
    var ns = "http://www.w3.org/2000/svg";
    var defs = document.createElementNS(ns, "defs");
    var pat = document.createElementNS(ns, "pattern");
    pat.setAttribute("id", "gc-hatch"); pat.setAttribute("patternUnits", "userSpaceOnUse");
    pat.setAttribute("width", "8"); pat.setAttribute("height", "8"); pat.setAttribute("patternTransform", "rotate(45)");
    var bg = document.createElementNS(ns, "rect");
    bg.setAttribute("width", "8"); bg.setAttribute("height", "8"); bg.setAttribute("fill", DATA.no_data);
    var line = document.createElementNS(ns, "line");
    line.setAttribute("x1", "0"); line.setAttribute("y1", "0"); line.setAttribute("x2", "0"); line.setAttribute("y2", "8");
    line.setAttribute("stroke", "#737373"); line.setAttribute("stroke-width", "3");
    pat.appendChild(bg); pat.appendChild(line); defs.appendChild(pat); svg.insertBefore(defs, svg.firstChild);
  }
  addHatch(map);
  var legendDiv;
  function fillLegend(div, key) {
    var l = byKey[key];
    while (div.firstChild) { div.removeChild(div.firstChild); }
    div.appendChild(el("h4", l.label + (l.unit ? " (" + l.unit + ")" : "")));
    l.legend.forEach(function (item) {
      var row = el("div"), sw = el("span", null, "gc-swatch");
      sw.style.background = item.colour; row.appendChild(sw); row.appendChild(document.createTextNode(item.label));
      div.appendChild(row);
    });
    var anyMissing = false, anySuppressed = false;
    l.values.forEach(function (v, i) { if (l.suppressed[i]) { anySuppressed = true; } else if (v === null) { anyMissing = true; } });
    if (anySuppressed) {
      var r1 = el("div"), s1 = el("span", null, "gc-swatch");
      s1.style.background = "repeating-linear-gradient(45deg, #737373 0 2px, " + DATA.no_data + " 2px 6px)";
      r1.appendChild(s1); r1.appendChild(document.createTextNode(DATA.suppressed_label || TEXT.too_few));
      div.appendChild(r1);
    }
    if (anyMissing) {
      var r2 = el("div"), s2 = el("span", null, "gc-swatch");
      s2.style.background = DATA.no_data; r2.appendChild(s2); r2.appendChild(document.createTextNode(TEXT.no_data));
      div.appendChild(r2);
    }
    if (l.significance_legend) {
      var r3 = el("div", null, "gc-legend-significance"), s3 = el("span", null, "gc-swatch gc-swatch-significant");
      r3.appendChild(s3); r3.appendChild(document.createTextNode(l.significance_legend));
      div.appendChild(r3);
    }
    (l.legend_notes || []).forEach(function (note) { div.appendChild(el("p", note, "gc-legend-note")); });
    if (l.estimator_note) { div.appendChild(el("p", l.estimator_note, "gc-legend-note")); }
    div.setAttribute("data-layer", l.key);
  }
  function updateLegend() {
    fillLegend(legendDiv, active);
    fitPanel();
  }
  var panelDiv;
  function fitPanel() {  // the layer panel ends above the legend, so no layer is hidden behind it
    if (!panelDiv || !legendDiv) { return; }
    var room = legendDiv.getBoundingClientRect().top - panelDiv.getBoundingClientRect().top - 12 - 10;  // padding, gap
    panelDiv.style.maxHeight = Math.max(100, Math.min(0.7 * map.getSize().y, room)) + "px";
  }
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () { legendDiv = el("div", null, "gc-legend"); return legendDiv; };
  legend.addTo(map);
  var panel = L.control({position: "topright"});
  panel.onAdd = function () {
    var div = el("div", null, "gc-panel");
    DATA.groups.forEach(function (group, g) {
      var box = el("details"), summary = el("summary", group.title);
      box.open = g === 0; box.appendChild(summary); div.appendChild(box);
      group.keys.forEach(function (key) {
        var label = el("label"), input = el("input");
        input.type = "radio"; input.name = "gc-layer"; input.value = key; input.checked = key === active;
        input.addEventListener("change", function () {
          active = key; geo.setStyle(styleFor); updateLegend();
        });
        label.appendChild(input); label.appendChild(document.createTextNode(" " + byKey[key].label));
        box.appendChild(label);
      });
    });
    L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
    panelDiv = div;
    return div;
  };
  panel.addTo(map);
  map.on("resize", fitPanel);
  // ---- side-by-side view: a second synchronised map on the right, sharing the same geometry
  var side = null;
  function defaultSideKey() {
    for (var i = 0; i < DATA.layers.length; i++) { if (DATA.layers[i].kind === "structural") { return DATA.layers[i].key; } }
    return DATA.layers[Math.min(1, DATA.layers.length - 1)].key;
  }
  function openSide(key) {
    if (side) { side.setLayer(key); return; }
    var container = map.getContainer();
    var div = el("div", null, "gc-side");
    div.id = "gc-side-map";
    container.style.width = "50%";
    container.parentNode.appendChild(div);
    var right = L.map(div, {zoomControl: false, attributionControl: false, center: map.getCenter(), zoom: map.getZoom()});
    var sideKey = key;
    var geoR = L.geoJSON(DATA.geojson, {
      style: function (f) { return styleOf(sideKey)(f); }, renderer: DATA.canvas ? L.canvas({padding: 0.5}) : null,
      onEachFeature: function (feature, layer) {
        layer.bindTooltip(function () { return tooltipFor(feature.properties.i, sideKey); }, {sticky: true});
      }
    }).addTo(right);
    addHatch(right);
    var sideLegendDiv;
    var sideLegend = L.control({position: "bottomright"});
    sideLegend.onAdd = function () { sideLegendDiv = el("div", null, "gc-legend gc-side-legend"); return sideLegendDiv; };
    sideLegend.addTo(right);
    fillLegend(sideLegendDiv, sideKey);
    var syncing = false;
    function follow(a, b) {
      var handler = function () {
        if (syncing) { return; }
        syncing = true; b.setView(a.getCenter(), a.getZoom(), {animate: false}); syncing = false;
      };
      a.on("move", handler);
      return handler;
    }
    var mainFollower = follow(map, right);
    follow(right, map);
    map.invalidateSize({animate: false});
    right.setView(map.getCenter(), map.getZoom(), {animate: false});
    side = {map: right, layer: geoR, div: div, follower: mainFollower,
      setLayer: function (k) { sideKey = k; geoR.setStyle(function (f) { return styleOf(sideKey)(f); }); fillLegend(sideLegendDiv, sideKey); },
      active: function () { return sideKey; }};
    fitPanel();
  }
  function closeSide() {
    if (!side) { return; }
    map.off("move", side.follower);
    side.map.remove(); side.div.parentNode.removeChild(side.div); side = null;
    map.getContainer().style.width = "";
    map.invalidateSize({animate: false});
    fitPanel();
  }
  var sideBox = el("details"), sideSummary = el("summary", TEXT.side_view);
  sideBox.appendChild(sideSummary);
  var sideLabel = el("label"), sideCheck = el("input"), sideSelect = el("select");
  sideCheck.type = "checkbox"; sideCheck.name = "gc-side";
  sideLabel.appendChild(sideCheck); sideLabel.appendChild(document.createTextNode(" " + TEXT.side_second));
  DATA.layers.forEach(function (l) {
    var option = el("option", l.label); option.value = l.key; sideSelect.appendChild(option);
  });
  sideSelect.name = "gc-side-layer"; sideSelect.value = defaultSideKey(); sideSelect.className = "gc-side-select";
  sideCheck.addEventListener("change", function () { if (sideCheck.checked) { openSide(sideSelect.value); } else { closeSide(); } });
  sideSelect.addEventListener("change", function () { if (side) { side.setLayer(sideSelect.value); } });
  sideBox.appendChild(sideLabel); sideBox.appendChild(sideSelect);
  panelDiv.appendChild(sideBox);
  // ---- district names on the map (toggle): larger districts first, only where the name fits
  // inside the district at the current zoom and does not collide with a name already placed
  var labelLayer = L.layerGroup().addTo(map), labelsOn = false, MAX_LABELS = 400;
  function drawLabels() {
    labelLayer.clearLayers();
    if (!labelsOn) { return; }
    var view = map.getBounds(), placed = [];
    for (var k = 0; k < DATA.label_order.length && placed.length < MAX_LABELS; k++) {
      var i = DATA.label_order[k], at = L.latLng(DATA.label_points[i][0], DATA.label_points[i][1]);
      if (!view.contains(at)) { continue; }
      var b = featureOf[i].getBounds(), sw = map.latLngToContainerPoint(b.getSouthWest()),
        ne = map.latLngToContainerPoint(b.getNorthEast()), c = map.latLngToContainerPoint(at);
      var w = DATA.names[i].length * 6.2 + 4, h = 14;
      if (w > Math.abs(ne.x - sw.x) || h > Math.abs(sw.y - ne.y)) { continue; }
      var box = [c.x - w / 2, c.y - h / 2, c.x + w / 2, c.y + h / 2];
      var clash = placed.some(function (o) { return box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3]; });
      if (clash) { continue; }
      placed.push(box);
      labelLayer.addLayer(L.marker(at, {icon: L.divIcon({className: "gc-label", html: el("span", DATA.names[i]), iconSize: null}),
        interactive: false, keyboard: false}));
    }
  }
  map.on("zoomend moveend", drawLabels);
  var labelsToggle = el("label"), labelsCheck = el("input");
  labelsCheck.type = "checkbox"; labelsCheck.name = "gc-labels";
  labelsCheck.addEventListener("change", function () { labelsOn = labelsCheck.checked; drawLabels(); });
  labelsToggle.appendChild(labelsCheck); labelsToggle.appendChild(document.createTextNode(" " + TEXT.labels_toggle));
  panelDiv.insertBefore(labelsToggle, panelDiv.firstChild);
  // ---- search: a district by name or official key; zooms to it and shows its tooltip
  function folded(text) {
    return String(text).toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/\u00df/g, "ss")
      .replace(/[\s\-_.]+/g, " ").trim();
  }
  var foldedNames = DATA.names.map(folded), foldedKeys = DATA.keys.map(folded);
  function search(query) {
    var q = folded(query), exact = [], starts = [], contains = [];
    if (!q) { return []; }
    for (var i = 0; i < DATA.names.length; i++) {
      if (foldedKeys[i] === q || foldedNames[i] === q) { exact.push(i); }
      else if (foldedKeys[i].indexOf(q) === 0 || foldedNames[i].indexOf(q) === 0) { starts.push(i); }
      else if (foldedNames[i].indexOf(q) >= 0 || foldedKeys[i].indexOf(q) >= 0) { contains.push(i); }
    }
    return exact.concat(starts, contains).slice(0, 8);
  }
  var found = null;
  function showDistrict(i) {
    var layer = featureOf[i];
    if (found !== null && featureOf[found]) { geo.resetStyle(featureOf[found]); }
    found = i;
    map.fitBounds(layer.getBounds(), {padding: [40, 40], maxZoom: Math.max(map.getZoom(), 15), animate: false});
    layer.setStyle({weight: 4, color: "#e6007e"});
    layer.bringToFront();
    layer.openTooltip(layer.getBounds().getCenter());
  }
  var searchControl = L.control({position: "topleft"});
  var searchInput, searchList;
  searchControl.onAdd = function () {
    var div = el("div", null, "gc-search");
    searchInput = el("input"); searchInput.type = "search"; searchInput.name = "gc-search";
    searchInput.placeholder = TEXT.search; searchInput.setAttribute("aria-label", TEXT.search);
    searchList = el("div", null, "gc-search-results");
    function fill() {
      while (searchList.firstChild) { searchList.removeChild(searchList.firstChild); }
      if (!searchInput.value.trim()) { return; }
      var hits = search(searchInput.value);
      if (!hits.length) { searchList.appendChild(el("div", TEXT.search_none, "gc-search-none")); return; }
      hits.forEach(function (i) {
        var b = el("button", DATA.names[i] + " (" + DATA.keys[i] + ")");
        b.type = "button"; b.setAttribute("data-i", String(i));
        b.addEventListener("click", function () { showDistrict(i); });
        searchList.appendChild(b);
      });
    }
    searchInput.addEventListener("input", fill);
    searchInput.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { var hits = search(searchInput.value); if (hits.length) { showDistrict(hits[0]); } }
    });
    div.appendChild(searchInput); div.appendChild(searchList);
    L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  var title = L.control({position: "topleft"});
  title.onAdd = function () { return el("div", DATA.title, "gc-title"); };
  title.addTo(map);
  searchControl.addTo(map);
  var notes = L.control({position: "bottomleft"});
  notes.onAdd = function () {
    var div = el("div", null, "gc-notes");
    DATA.notes.forEach(function (n) { div.appendChild(el("div", n)); });
    return div;
  };
  notes.addTo(map);
  updateLegend();
  window.geoCohesion = {map: map, data: DATA, layer: geo,
    setLayer: function (key) {
      active = key; geo.setStyle(styleFor); updateLegend();
      document.querySelectorAll("input[name=gc-layer]").forEach(function (i) { i.checked = i.value === key; });
    },
    active: function () { return active; },
    openSide: function (key) { sideCheck.checked = true; sideSelect.value = key || defaultSideKey(); openSide(sideSelect.value); },
    closeSide: function () { sideCheck.checked = false; closeSide(); },
    side: function () { return side; },
    search: search, showDistrict: showDistrict,
    labels: function (on) { labelsCheck.checked = !!on; labelsOn = !!on; drawLabels(); return labelLayer.getLayers().length; }};
})();
