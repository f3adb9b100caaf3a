using Probe.Analysis;
using Probe.Reporting;
using Probe.Reporting.Sections;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>
/// The dead-unit timeline grid keeps all its text visible: every label (panel titles, the epochs under each panel, the
/// colour bar) lies inside the figure and inside the clip rectangle it is drawn in, and no two labels overlap. The
/// epoch labels were once drawn clipped away by the plot area.
/// </summary>
public class TimelineLayoutTests
{
    internal static DeadUnitTimelineResult Timeline(int[] widths, int[] epochs, int seed = 1)
    {
        var rng = new Random(seed);
        var layers = widths.Select((units, i) =>
        {
            var rates = epochs.Select(_ => Enumerable.Range(0, units).Select(u => u % 5 == 0 ? 0f : (float)rng.NextDouble()).ToArray()).ToArray();
            var deaths = Enumerable.Range(0, units).Where(u => u % 5 == 0)
                .Select(u => new UnitDeathRecord(u, true, 0, epochs[0], false, true, false, 0)).ToArray();
            return new DeadLayerTimeline($"relu{i + 1}", "ReLU", units, rates, epochs.Select(_ => 0.2).ToArray(), epochs.Select(_ => 0.0).ToArray(), deaths);
        }).ToArray();
        return new DeadUnitTimelineResult(epochs, layers, new DeadUnitStudyResult(100, 0.01, "a > 0", []));
    }

    public static TheoryData<int[], int, double, double?> Cases => new()
    {
        { new[] { 128, 64, 32 }, 20, 7.0, null },               // the demo's MLP on a page-wide figure
        { new[] { 128, 64, 32 }, 20, 7.0, 12 },                 // larger text
        { new[] { 8, 16, 64, 128, 256, 512, 64, 10 }, 200, 7.0, null }, // many layers: narrow panels
        { new[] { 16, 32, 64, 128, 10 }, 200, 3.5, null },      // one column
        { new[] { 1000, 10 }, 5, 3.5, 10 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_label_lies_inside_the_figure_and_its_clip_and_none_overlap(int[] widths, int lastEpoch, double widthIn, double? fontPt)
    {
        int[] epochs = Enumerable.Range(0, lastEpoch + 1).Where(e => e % Math.Max(1, lastEpoch / 10) == 0 || e == lastEpoch).ToArray();
        var basis = new FigureSettings(WidthInches: widthIn, FontSizePt: fontPt).Apply(FigureStyle.Page);
        var grid = TimelineGrid.Create(Timeline(widths, epochs), "Dead units over training", basis);
        var (w, h, texts) = SvgText.Read(FigureExporter.Export(grid.Model, FigureFormat.Svg, grid.Style));

        var outside = SvgText.Outside(w, h, texts);
        Assert.True(outside.Count == 0, $"{w} x {h}: " + string.Join("; ", outside));
        // The first and last epoch appear under every panel.
        string last = lastEpoch.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(widths.Length, texts.Count(t => t.Text == last));
        Assert.True(texts.Count(t => t.Text == "0") >= widths.Length);
        for (int i = 0; i < texts.Count; i++)
            for (int j = i + 1; j < texts.Count; j++)
            {
                var (a, b) = (texts[i], texts[j]);
                bool overlap = a.Left < b.Right - 0.5 && b.Left < a.Right - 0.5 && a.Top < b.Bottom - 0.5 && b.Top < a.Bottom - 0.5;
                Assert.False(overlap, $"labels overlap: {a} and {b}");
            }
    }
}
