using System.Globalization;
using System.Text.RegularExpressions;
using Probe.Reporting.Sections;
using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Reporting;

/// <summary>Figure tick labels use '.' whatever the current culture (a library user's notebook may run under de-DE).</summary>
public class FigureCultureTests
{
    [Fact]
    public void Heatmap_tick_labels_use_a_point_under_a_comma_culture()
    {
        var x = Gaussian(40, 6, 1);
        var layers = new List<(string, Matrix)> { ("x", x), ("relu", Map(x, v => MathF.Max(0, v))), ("noise", Gaussian(40, 5, 2)) };
        var rsa = new RsaMeasure().AllPairs(layers); // colour bar -1..1 in steps of 0.5
        string dir = Path.Combine(Path.GetTempPath(), $"probe-figculture-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var saved = CultureInfo.CurrentCulture;
        try
        {
            var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            comma.NumberFormat.NumberGroupSeparator = ".";
            CultureInfo.CurrentCulture = comma;
            SimilarityFigures.Save(rsa, Path.Combine(dir, "rsa"), rowTitle: "layer", colTitle: "layer");
            string svg = File.ReadAllText(Path.Combine(dir, "rsa.svg"));
            Assert.DoesNotMatch(new Regex(@">\s*-?\d+,\d+\s*<"), svg);
            Assert.Matches(new Regex(@">\s*0\.5\s*<"), svg);
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
            Directory.Delete(dir, recursive: true);
        }
    }
}
