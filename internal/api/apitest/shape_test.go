package apitest

import "testing"

// TestShapeDiff: the comparison catches a missing key, an extra key, a type
// change and a wrong array element, and ignores values.
func TestShapeDiff(t *testing.T) {
	want := `{"a": 1, "b": {"c": [1]}, "d": "x"}`
	cases := []struct {
		got  string
		diff bool
	}{
		{`{"a": 2, "b": {"c": [5, 6]}, "d": "y"}`, false},
		{`{"a": 2, "b": {"c": []}, "d": "y"}`, false},
		{`{"a": 2, "b": {"c": [5]}}`, true},
		{`{"a": 2, "b": {"c": [5]}, "d": "y", "e": 1}`, true},
		{`{"a": "2", "b": {"c": [5]}, "d": "y"}`, true},
		{`{"a": 2, "b": {"c": ["5"]}, "d": "y"}`, true},
	}
	for _, c := range cases {
		d, err := ShapeDiff([]byte(want), []byte(c.got))
		if err != nil {
			t.Fatal(err)
		}
		if (d != "") != c.diff {
			t.Errorf("%s: diff %q", c.got, d)
		}
	}
	for _, name := range []string{"channel_list", "user_list_live", "user_list_communication", "user_list_hosts_only",
		"user_list_no_channel", "user_property", "user_property_absent", "projects", "project", "success"} {
		b, err := Fixture(name)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := ShapeDiff(b, b); err != nil || d != "" {
			t.Errorf("%s: %v %s", name, err, d)
		}
	}
}
