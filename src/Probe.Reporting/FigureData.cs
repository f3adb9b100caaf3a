namespace Probe.Reporting;

/// <summary>One scatter panel's coordinates (x[i], y[i]) for sample i.</summary>
public sealed record ScatterPanel(double[] X, double[] Y);

/// <summary>A named series of y values (one per x position) for line and bar charts.</summary>
public sealed record NamedSeries(string Name, double[] Values);

/// <summary>A polyline (x[i], y[i]) in data coordinates, e.g. one transformed grid line.</summary>
public sealed record Polyline(double[] X, double[] Y);
