package fleet_test

import (
	"testing"

	"github.com/fumo-gw/fumo-gw/fleet"
)

func TestLwM2MInventory_SameAs(t *testing.T) {
	base := fleet.LwM2MInventory{Manufacturer: "Acme", ModelNumber: "X", SerialNumber: "S", FirmwareVersion: "1.0",
		LwM2MVersion: "1.1", ObjectVersions: map[string]string{"1": "1.1"}}
	tests := []struct {
		name   string
		change func(*fleet.LwM2MInventory)
		same   bool
	}{
		{"equal", func(*fleet.LwM2MInventory) {}, true},
		{"updated differs", func(i *fleet.LwM2MInventory) { i.Updated = i.Updated.AddDate(1, 0, 0) }, true},
		{"manufacturer", func(i *fleet.LwM2MInventory) { i.Manufacturer = "B" }, false},
		{"model", func(i *fleet.LwM2MInventory) { i.ModelNumber = "" }, false},
		{"serial", func(i *fleet.LwM2MInventory) { i.SerialNumber = "T" }, false},
		{"firmware", func(i *fleet.LwM2MInventory) { i.FirmwareVersion = "2.0" }, false},
		{"lwm2m version", func(i *fleet.LwM2MInventory) { i.LwM2MVersion = "1.2" }, false},
		{"object version", func(i *fleet.LwM2MInventory) { i.ObjectVersions = map[string]string{"1": "1.2"} }, false},
		{"object versions gone", func(i *fleet.LwM2MInventory) { i.ObjectVersions = nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			o.ObjectVersions = map[string]string{"1": "1.1"}
			tt.change(&o)
			if got := base.SameAs(&o); got != tt.same {
				t.Fatalf("SameAs = %v, want %v", got, tt.same)
			}
		})
	}
	var none *fleet.LwM2MInventory
	if !none.SameAs(nil) || none.SameAs(&base) || base.SameAs(nil) {
		t.Fatal("nil inventories")
	}
}
