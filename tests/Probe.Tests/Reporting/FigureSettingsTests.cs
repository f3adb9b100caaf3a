using System.Globalization;
using Probe.Analysis;
using Probe.Reporting;
using Probe.Reporting.Sections;
using CliRun = Probe.Tests.Cli.Cli;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>
/// --no-title and --font-size (with --width-in/--width-pt/--dpi) on every command that draws figures: the SVG's text
/// elements lose the title, font sizes follow the points asked for (1 pt = 96/72 SVG units), and bad values exit 2.
/// </summary>
public class FigureSettingsTests
{
    private static readonly string[] FigureCommands = ["project", "evolution", "cka", "compare", "similarity", "merge", "dead", "report", "demo"];

    private static string Npy(string dir)
    {
        // 60 rows x 5 features, 3 classes: enough for a PCA scatter (written by hand as a float32 .npy).
        var rng = new Random(2);
        var x = new float[60 * 5];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        string xp = Path.Combine(dir, "x.npy"), yp = Path.Combine(dir, "y.npy");
        Probe.Data.Npy.Write(xp, new Probe.Matrix(60, 5, x));
        Probe.Data.Npy.Write(yp, Enumerable.Range(0, 60).Select(i => i % 3).ToArray());
        return dir;
    }

    private static (List<SvgTextBox> Texts, string Err) Project(params string[] extra)
    {
        string dir = Npy(CliRun.TempDir("figsettings"));
        try
        {
            string svg = Path.Combine(dir, "fig.svg");
            var (code, _, err) = CliRun.Run(["project", "--acts", Path.Combine(dir, "x.npy"), "--labels", Path.Combine(dir, "y.npy"), "--out", svg, "--title", "Title of the figure", .. extra]);
            Assert.True(code == 0, err);
            return (SvgText.Read(File.ReadAllBytes(svg)).Texts, err);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void No_title_drops_the_title_text_and_only_it()
    {
        var with = Project().Texts;
        var without = Project("--no-title").Texts;
        Assert.Contains(with, t => t.Text == "Title of the figure");
        Assert.DoesNotContain(without, t => t.Text.Contains("Title", StringComparison.Ordinal));
        // Everything else (ticks, axis titles, legend) is still drawn.
        Assert.Equal(with.Count - 1, without.Count);
        Assert.Contains(without, t => t.Text.StartsWith("PC1", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(12)]
    [InlineData(6.5)]
    public void Font_size_sets_every_font_size_in_the_svg(double pt)
    {
        var texts = Project("--font-size", pt.ToString(CultureInfo.InvariantCulture)).Texts;
        double units = pt * 96 / 72;
        // Tick labels, axis titles and the legend at the base size; the title one point larger.
        var sizes = texts.GroupBy(t => Math.Round(t.FontSize, 3)).ToDictionary(g => g.Key, g => g.Select(t => t.Text).ToList());
        Assert.Equal(new[] { Math.Round(units, 3), Math.Round((pt + 1) * 96 / 72, 3) }.Order(), sizes.Keys.Order());
        Assert.Equal(["Title of the figure"], sizes[Math.Round((pt + 1) * 96 / 72, 3)]);
        // The default (one-column preset) is 8 pt.
        Assert.Contains(Project().Texts, t => Math.Abs(t.FontSize - 8 * 96.0 / 72) < 1e-3);
    }

    public static TheoryData<string, string, string> BadValues()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var cmd in FigureCommands)
            foreach (var (opt, v) in new[] { ("--font-size", "0"), ("--font-size", "-2"), ("--font-size", "big"), ("--dpi", "0"), ("--width-in", "-1"), ("--width-pt", "NaN"), ("--width-in", "1000") })
                data.Add(cmd, opt, v);
        return data;
    }

    [Theory]
    [MemberData(nameof(BadValues))]
    public void Bad_figure_values_exit_2_on_every_figure_command(string command, string option, string value)
    {
        var (code, _, err) = CliRun.Run(command, option, value);
        Assert.Equal(2, code);
        // The option exists on the command and its own check refused the value (not "unrecognized option").
        Assert.Contains($"{option} must be a positive number", err);
    }

    [Fact]
    public void Figure_options_are_on_every_figure_command()
    {
        foreach (var cmd in FigureCommands)
        {
            var (code, output, _) = CliRun.Run(cmd, "--help");
            Assert.Equal(0, code);
            foreach (var opt in new[] { "--width-in", "--width-pt", "--dpi", "--font-size", "--no-title" }) Assert.Contains(opt, output);
        }
    }

    [Fact]
    public void Settings_apply_to_a_preset_width_scaling_its_height()
    {
        var s = new FigureSettings(WidthInches: 7, Dpi: 150, FontSizePt: 10, Titles: false).Apply(FigureStyle.Column);
        Assert.Equal(7, s.WidthInches);
        Assert.Equal(FigureStyle.Column.HeightInches * 2, s.HeightInches, 12);
        Assert.Equal((150.0, 10.0, false), (s.Dpi, s.FontSizePt, s.ShowTitle));
        Assert.Equal(FigureStyle.Page, FigureSettings.Default.Apply(FigureStyle.Page));
        Assert.Throws<ProbeException>(() => new FigureSettings(FontSizePt: 0).Apply(FigureStyle.Column));
        Assert.Throws<ProbeException>(() => new FigureSettings(WidthInches: double.NaN).Apply(FigureStyle.Column));
    }

    [Fact]
    public void A_report_folder_draws_every_figure_with_its_settings()
    {
        string dir = CliRun.TempDir("figsettings-report");
        try
        {
            var timeline = TimelineLayoutTests.Timeline([12, 6], [0, 1, 2]);
            using (var report = new ReportFolder(Path.Combine(dir, "r")) { FigureSettings = new FigureSettings(FontSizePt: 11, Titles: false) })
            {
                report.AddFigure("Dead units", "over training", DeadUnitFigures.DeadFractionOverTraining(timeline, "alive / dying over training"), "caption");
                report.AddFigure("Dead units", "timelines", TimelineGrid.Create(timeline, "per-unit firing rate", report.StyleOf(FigureStyle.Page)).Save, "caption");
                report.Write();
            }
            var svgs = Directory.GetFiles(Path.Combine(dir, "r", "figures"), "*.svg");
            Assert.NotEmpty(svgs);
            foreach (var svg in svgs)
            {
                var texts = SvgText.Read(File.ReadAllBytes(svg)).Texts;
                Assert.Contains(texts, t => Math.Abs(t.FontSize - 11 * 96.0 / 72) < 1e-3);
                Assert.All(texts, t => Assert.True(t.FontSize <= 11 * 96.0 / 72 + 1e-3, t.ToString()));
                Assert.DoesNotContain(texts, t => t.Text.Contains("per-unit firing rate", StringComparison.Ordinal) || t.Text.Contains("alive / dying", StringComparison.Ordinal));
            }
        }
        finally { Directory.Delete(dir, true); }
    }
}
