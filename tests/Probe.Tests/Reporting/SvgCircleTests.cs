using System.Globalization;
using Probe.Reporting;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>Scatter markers in SVG: one circle as two arcs instead of 16 quadratic segments, geometry kept.</summary>
public class SvgCircleTests
{
    /// <summary>A circle of radius r at (cx, cy) as Skia writes it: 16 quadratic segments from angle 0.</summary>
    static string SkiaCircle(double cx, double cy, double r)
    {
        string F(double v) => v.ToString("0.####", CultureInfo.InvariantCulture);
        var sb = new System.Text.StringBuilder($"M{F(cx + r)} {F(cy)}");
        double step = Math.PI / 8, ctrl = r / Math.Cos(step / 2);
        for (int k = 0; k < 16; k++)
        {
            double a = k * step + step / 2, b = (k + 1) * step;
            sb.Append($"Q{F(cx + ctrl * Math.Cos(a))} {F(cy + ctrl * Math.Sin(a))} {F(cx + r * Math.Cos(b))} {F(cy + r * Math.Sin(b))}");
        }
        return sb.Append('Z').ToString();
    }

    [Fact]
    public void EachCircleBecomesTwoArcsWithTheSameCentreAndRadius()
    {
        string d = SkiaCircle(138.25, 71.5, 1.3) + SkiaCircle(10, 20, 2) + "M0 0L5 5L0 5Z";
        string compact = SvgCircles.CompactPath(d);
        Assert.Equal("M136.95 71.5a1.3 1.3 0 1 0 2.6 0a1.3 1.3 0 1 0 -2.6 0ZM8 20a2 2 0 1 0 4 0a2 2 0 1 0 -4 0ZM0 0L5 5L0 5Z", compact);
        Assert.True(compact.Length * 8 < d.Length);
    }

    [Fact]
    public void APathThatIsNotACircleIsLeftAlone()
    {
        string ellipse = SkiaCircle(0, 0, 1).Replace("M1 0", "M3 0");
        Assert.Equal(ellipse, SvgCircles.CompactPath(ellipse));
    }
}
