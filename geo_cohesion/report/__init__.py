"""Reports and exports: what municipal planners attach, open in QGIS or paste into Excel.

* :mod:`~geo_cohesion.report.profile` and :mod:`~geo_cohesion.report.city`: the content (German
  text and tables) of district profiles and city reports, from :class:`~geo_cohesion.report.model.CityReportInput`;
* :mod:`~geo_cohesion.report.charts`: radar chart, locator map, interval and city-comparison charts;
* :mod:`~geo_cohesion.report.render`: HTML (jinja2) and PDF (typst) from the same context;
* :mod:`~geo_cohesion.report.build`: writes ``report/`` (:func:`~geo_cohesion.report.build.write_reports`);
* :mod:`~geo_cohesion.report.exports`: German CSVs, workbook, GeoPackage with QGIS style, GeoJSON;
* :mod:`~geo_cohesion.report.headers`: German headers, units and explanations of every column.
"""
