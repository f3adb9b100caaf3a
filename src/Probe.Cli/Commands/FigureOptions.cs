using System.CommandLine;
using Probe.Reporting;

namespace Probe.Cli.Commands;

/// <summary>Figure size options of the projection commands: width in inches or points, and PNG resolution.</summary>
internal sealed class FigureOptions
{
    public Option<double?> WidthInches { get; } = new("--width-in") { Description = "Figure width in inches (3.5 = one column, 7 = page width)." };
    public Option<double?> WidthPoints { get; } = new("--width-pt") { Description = "Figure width in points (1/72 in); alternative to --width-in." };
    public Option<double> Dpi { get; } = new("--dpi") { Description = "PNG resolution in dots per inch.", DefaultValueFactory = _ => 300 };

    public void AddTo(Command cmd)
    {
        cmd.Add(WidthInches);
        cmd.Add(WidthPoints);
        cmd.Add(Dpi);
        cmd.Validators.Add(r =>
        {
            if (r.GetResult(WidthInches) != null && r.GetResult(WidthPoints) != null) r.AddError("Give at most one of --width-in and --width-pt.");
        });
    }

    /// <summary>The basis style: <paramref name="fallback"/> with the requested width and dpi (fonts stay at the preset's size).</summary>
    public FigureStyle Style(ParseResult p, FigureStyle fallback)
    {
        double width = p.GetValue(WidthInches) ?? (p.GetValue(WidthPoints) is double pt ? pt / 72.0 : fallback.WidthInches);
        var style = fallback with { WidthInches = width, HeightInches = fallback.HeightInches * width / fallback.WidthInches, Dpi = p.GetValue(Dpi) };
        style.Validate();
        return style;
    }

    /// <summary>True when the path names a figure file (.png, .svg, .pdf).</summary>
    public static bool IsFigure(string path) => FigureExporter.Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());
}
