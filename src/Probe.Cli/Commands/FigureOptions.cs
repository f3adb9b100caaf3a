using System.CommandLine;
using System.CommandLine.Parsing;
using Probe.Reporting;

namespace Probe.Cli.Commands;

/// <summary>
/// The figure options every command that draws figures shares: width (inches or points), PNG resolution, base font
/// size and <c>--no-title</c>. They become one <see cref="FigureSettings"/>, which each figure applies to its own preset.
/// </summary>
internal sealed class FigureOptions
{
    public Option<double?> WidthInches { get; } = new("--width-in")
    {
        Description = "Figure width in inches (3.5 = one column, 7 = page width); the height scales with it.",
        CustomParser = Number,
    };
    public Option<double?> WidthPoints { get; } = new("--width-pt")
    {
        Description = "Figure width in points (1/72 in); alternative to --width-in.",
        CustomParser = Number,
    };
    public Option<double?> Dpi { get; } = new("--dpi")
    {
        Description = "PNG resolution in dots per inch (default 300).",
        CustomParser = Number,
    };
    public Option<double?> FontSize { get; } = new("--font-size")
    {
        Description = "Base font size in points (default: the figure's own, 8 for one-column figures, 9 for page-wide ones; --width-in does not change it); titles are 1 pt larger.",
        CustomParser = Number,
    };
    public Option<bool> NoTitle { get; } = new("--no-title") { Description = "Draw figures without their titles (for a paper, where the caption says it)." };

    public void AddTo(Command cmd)
    {
        cmd.Add(WidthInches);
        cmd.Add(WidthPoints);
        cmd.Add(Dpi);
        cmd.Add(FontSize);
        cmd.Add(NoTitle);
        cmd.Validators.Add(r =>
        {
            Range(r, WidthInches, FigureSettings.MaxWidthInches, "inches");
            Range(r, WidthPoints, FigureSettings.MaxWidthInches * 72, "points");
            Range(r, Dpi, FigureSettings.MaxDpi, "dots per inch");
            Range(r, FontSize, FigureSettings.MaxFontSizePt, "points");
            if (r.GetResult(WidthInches) != null && r.GetResult(WidthPoints) != null) r.AddError("Give at most one of --width-in and --width-pt.");
        });
    }

    /// <summary>Reads a number (text that is not one becomes NaN, refused by <see cref="Range"/>), so a bad value never stops parsing.</summary>
    private static double? Number(ArgumentResult r) =>
        double.TryParse(r.Tokens.Count > 0 ? r.Tokens[0].Value : "", System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var x) ? x : double.NaN;

    /// <summary>Refuses (exit 2) a given value that is not a positive number up to <paramref name="max"/>, quoting what was typed.</summary>
    private static void Range(CommandResult r, Option<double?> option, double max, string unit)
    {
        if (r.GetResult(option) is not { } given || r.GetValue(option) is not double x) return;
        if (double.IsFinite(x) && x > 0 && x <= max) return;
        string typed = given.Tokens.Count > 0 ? given.Tokens[0].Value : "";
        r.AddError($"{option.Name} must be a positive number of {unit} up to {CliOptions.F(max)}, got '{typed}'.");
    }

    /// <summary>The figure settings the options ask for (unset options keep each figure's preset).</summary>
    public FigureSettings Settings(ParseResult p) => new(
        WidthInches: p.GetValue(WidthInches) ?? (p.GetValue(WidthPoints) is double pt ? pt / 72.0 : null),
        Dpi: p.GetValue(Dpi),
        FontSizePt: p.GetValue(FontSize),
        Titles: !p.GetValue(NoTitle));

    /// <summary>The style to draw with: <paramref name="fallback"/> with the requested width, dpi, font size and titles.</summary>
    public FigureStyle Style(ParseResult p, FigureStyle fallback) => Settings(p).Apply(fallback);

    /// <summary>True when the path names a figure file (.png, .svg, .pdf).</summary>
    public static bool IsFigure(string path) => FigureExporter.Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());
}
