using System.Globalization;
using System.Text.Json;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// Numeric options read the same under a culture whose decimal separator is a comma (de-DE: '.' groups thousands),
/// as when the tool runs with DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=0 LANG=de_DE.UTF-8.
/// </summary>
public class CultureTests
{
    private static string F(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "similarity", name);

    private static CultureInfo Comma()
    {
        var c = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        c.NumberFormat.NumberDecimalSeparator = ",";
        c.NumberFormat.NumberGroupSeparator = ".";
        return c;
    }

    [Fact]
    public void Double_options_are_read_with_a_point_under_a_comma_culture()
    {
        var saved = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = Comma();
            var (code, output, err) = Cli.Run("similarity", "--measure", "svcca", "--a", F("related_a.npy"), "--b", F("related_b.npy"), "--keep", "0.9", "--json");
            Assert.True(code == 0, err);
            Assert.Equal("SVCCA (keep 90% of the variance)", JsonDocument.Parse(output).RootElement.GetProperty("description").GetString());

            CultureInfo.CurrentCulture = Comma();
            (code, output, err) = Cli.Run("cka", "--a", F("related_a.npy"), "--b", F("related_b.npy"), "--kernel", "rbf", "--sigma-frac", "0.5", "--json");
            Assert.True(code == 0, err);
            Assert.Equal("RBF CKA (sigma = 0.5 x median distance)", JsonDocument.Parse(output).RootElement.GetProperty("description").GetString());
        }
        finally { CultureInfo.CurrentCulture = saved; }
    }
}
