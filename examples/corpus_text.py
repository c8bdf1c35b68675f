"""Text of the sample corpus: Aurelwind Instruments AG, a fictional maker of environmental sensors.

Everything here is invented for the expertly examples. Any resemblance to a real company,
product or person is accidental. ``make_corpus.py`` turns this text into files.

The long documents are written in a small Markdown subset (see ``make_corpus.parse_blocks``):
``#``/``##``/``###`` headings, paragraphs (consecutive lines are joined), ``- `` bullets,
``1. `` numbered steps, and ``| a | b |`` table rows (the first row is the header; a row may
continue on the next line until it ends with ``|``). Text that ends up in a PDF must be ASCII,
because the PDF core fonts only cover latin-1.
"""

from __future__ import annotations

COMPANY = "Aurelwind Instruments AG"

# --------------------------------------------------------------------------------------------
# PDF documents (ASCII only)
# --------------------------------------------------------------------------------------------

STRATUS_MANUAL = """
# 1 About this manual

This manual covers the Stratus AQ-200 indoor air quality monitor in all three connectivity
variants: Wi-Fi, LoRaWAN and Power over Ethernet (PoE). It explains installation, everyday
use, maintenance and troubleshooting. Keep it with the device and read the safety notes
before you install it.

The manual applies to firmware 3.2 and later. You can check the firmware version on the
device under Settings > About, or in the Aurelwind Connect app. Screens in earlier firmware
releases may differ slightly from the descriptions below.

## 1.1 Safety notes

- The Stratus AQ-200 is designed for indoor use in dry rooms only. Do not install it in
  bathrooms, directly above cooking appliances, in unheated warehouses or outdoors.
- Use only the supplied USB-C power supply, or a PoE source that complies with IEEE 802.3af.
- Do not open the housing except for the filter and fan compartment described in section 7.
  There are no user-serviceable parts behind the main board cover.
- Do not spray cleaning agents, disinfectants or other aerosols at the air inlets. Solvent
  vapours can damage the gas sensors and are not covered by the warranty.
- The Stratus is not a life-safety device. It does not replace a carbon monoxide alarm or a
  smoke detector.

# 2 What is in the box

- 1 x Stratus AQ-200 monitor
- 1 x wall plate with two screws and two wall plugs
- 1 x USB-C power supply, 5 V / 2 A, with a 1.8 m cable (Wi-Fi and LoRaWAN variants only)
- 1 x quick start card with a QR code for the Aurelwind Connect app
- 1 x calibration certificate with the serial number of your unit

If an item is missing, contact Aurelwind support and quote the serial number printed on the
label on the back of the device.

# 3 Specifications

| Parameter | Value |
| CO2 sensor | NDIR, dual channel |
| CO2 range | 400 to 5,000 ppm |
| CO2 accuracy | +/- (40 ppm + 3 % of reading) |
| Particulate matter | PM1.0, PM2.5 and PM10, laser scattering |
| PM2.5 range | 0 to 1,000 ug/m3 |
| TVOC | Metal-oxide sensor, index 0 to 500 |
| Temperature | -10 to +50 deg C, accuracy +/- 0.3 deg C |
| Relative humidity | 0 to 95 % non-condensing, accuracy +/- 2 % |
| Display | 2.4 inch e-paper screen and 12-LED status ring |
| Connectivity | Wi-Fi 2.4 GHz (802.11 b/g/n), LoRaWAN EU868, or 10/100 Ethernet with PoE,
  depending on variant |
| Setup radio | Bluetooth Low Energy 5.0 |
| Measurement interval | 60 seconds by default, adjustable from 10 seconds to 15 minutes |
| Local storage | 90 days of readings at the default interval |
| Power | 5 V USB-C, 1.2 W typical; PoE class 1 |
| Dimensions | 120 x 120 x 38 mm |
| Weight | 265 g |
| Operating conditions | 0 to 40 deg C, 10 to 90 % RH, non-condensing |

# 4 Installation

## 4.1 Choosing a location

Mount the monitor at breathing height, 1.1 to 1.7 m above the floor, on an inside wall. Keep
it at least 1 m away from windows, doors, supply air vents and radiators, and out of direct
sunlight, which heats the housing and distorts the temperature reading. Do not place it
right next to a desk where people breathe towards it: exhaled air contains around 40,000 ppm
of CO2 and causes short peaks that do not represent the room.

One monitor is enough for a room of up to 80 m2. In open-plan offices, install one monitor
per 80 m2 of floor area and spread them evenly.

## 4.2 Mounting

1. Hold the wall plate against the wall with the arrow pointing up and check that it is level.
2. Mark the two holes. They are 83.5 mm apart.
3. Drill two 6 mm holes and insert the wall plugs.
4. Screw the wall plate to the wall. Do not overtighten the screws.
5. Route the cable through the channel at the bottom of the wall plate.
6. Hook the monitor onto the top of the plate and push the bottom gently until it clicks.

To take the monitor off the wall, press the release tab on the underside and lift the
device up and away. A desk stand is available as an accessory.

## 4.3 Powering the device

Connect the Wi-Fi and LoRaWAN variants to the supplied USB-C power supply. Connect the PoE
variant to a switch port or injector that complies with IEEE 802.3af; it needs no separate
power supply.

After power-on, the status ring shows a rotating white pattern for about 30 seconds while
the device starts. Particulate readings are available after 30 seconds. The CO2 sensor needs
a warm-up period of 10 minutes before CO2 values are shown; until then the screen shows
"warming up".

## 4.4 Connecting to the network

### Wi-Fi variant

1. Install the Aurelwind Connect app (iOS or Android) and sign in with your organisation
   account.
2. Tap Add device and scan the QR code on the quick start card.
3. Select your Wi-Fi network and enter its password. The Stratus supports WPA2-Personal and
   WPA2-Enterprise (PEAP-MSCHAPv2). Networks in the 5 GHz band are not supported.
4. When the monitor has reached the Aurelwind Cloud, the status ring turns solid blue for
   5 seconds.

### LoRaWAN variant

The LoRaWAN variant joins the network by over-the-air activation (OTAA). Its DevEUI and
AppKey are printed on the calibration certificate, and units bought from Aurelwind are
already registered in the Aurelwind Cloud. To use a third-party network server, register the
DevEUI, JoinEUI and AppKey there before you power on the device.

The monitor still measures every 60 seconds, but to respect radio duty-cycle limits it sends
5-minute averages. For gateway installation, see the Nimbus LG-8 quick start guide.

### PoE variant

The PoE variant obtains its IP address by DHCP. To set a static address, connect to the
monitor with the Aurelwind Connect app over Bluetooth and open Network settings. The
monitor needs outbound HTTPS (TCP port 443) to the Aurelwind Cloud; no inbound ports are
required.

# 5 Using the monitor

## 5.1 The display

The e-paper screen shows the CO2 concentration in large digits, with PM2.5, temperature,
relative humidity and the TVOC index below it. Press the front button once to step through
the detail pages: 24-hour trend, particulate detail, and device status. The device status
page shows the firmware version, signal strength and the date of the last filter change.

## 5.2 Status ring colours

| Colour | CO2 level | Meaning |
| Green | below 800 ppm | Good ventilation |
| Yellow | 800 to 1,400 ppm | Ventilate soon |
| Red | above 1,400 ppm | Ventilate now |
| Flashing red | any | Device fault; an error code is shown on the screen (see section 8) |

The thresholds can be changed for each room in the Aurelwind Connect app. Night mode switches
the ring off between 20:00 and 07:00 by default; the hours are configurable.

## 5.3 Alerts

In the Aurelwind Connect app you can set alerts for any measured value. Alerts are sent as
push notifications or e-mails, and can also be delivered to your own systems as webhooks.
Alerts are evaluated in the cloud, so a monitor that is offline cannot raise them.

# 6 Calibration

The CO2 sensor uses automatic baseline correction (ABC). Over a rolling 8-day window, the
monitor assumes that its lowest reading corresponds to fresh outdoor air at 420 ppm and
corrects its baseline accordingly. For ABC to work, the room must be ventilated to outdoor
levels at least once a week. This is normally the case in offices and schools that are
empty at night or at weekends.

In buildings that are occupied around the clock, such as hospitals, care homes or control
rooms, disable ABC in the app and calibrate the CO2 sensor manually every 6 months. Manual
field calibration is described in the separate procedure CAL-STR-02, which is available from
the Aurelwind support portal. Do not attempt a manual calibration without the procedure: an
incorrect calibration offsets every later reading.

The particulate, temperature and humidity sensors are calibrated at the factory and do not
need field calibration. If you need a traceable verification, Aurelwind offers a laboratory
calibration service.

# 7 Maintenance

## 7.1 Cleaning

Wipe the housing with a dry or slightly damp cloth. Keep the air inlets on both sides free of
dust. Use a soft brush, or low-pressure compressed air held at least 20 cm from the device.

## 7.2 Replacing the particulate filter

A pre-filter protects the particulate sensor from coarse dust and fibres. Replace it every
12 months, or sooner in dusty environments such as workshops. The app reminds you when the
filter has been in use for 11 months.

1. Take the monitor off the wall plate.
2. Press the two tabs on the back and slide the filter door open.
3. Pull the old filter out by its tab. Used filters can go in household waste.
4. Insert the new filter with the arrow pointing towards the device.
5. Close the filter door until it clicks.
6. In the app, select Maintenance > Reset filter timer.

## 7.3 Fan module

A small fan draws air through the particulate sensor. It is designed for about 5 years of
continuous operation. If the fan becomes noisy, or if error E42 appears and cleaning the air
inlets does not help, replace the fan module (spare part STR-SP-FAN). The fan module sits
behind the filter door and is held by a single Torx T8 screw.

## 7.4 Firmware updates

Wi-Fi and PoE monitors install firmware updates over the air, automatically, between 02:00
and 04:00 local time. LoRaWAN monitors do not receive firmware over the radio network;
update them from the Aurelwind Connect app over Bluetooth. What changed in each release is
listed in the Stratus firmware release notes.

# 8 Troubleshooting

## 8.1 Error codes

When a fault occurs, the status ring flashes red and the screen shows an error code. The
table lists the codes and what to do.

| Code | Meaning | What to do |
| E01 | CO2 sensor not responding | Restart the monitor. If the error returns, contact support. |
| E03 | CO2 sensor warm-up timeout | Check that the room is within the operating conditions, then
  restart. |
| E07 | CO2 reading above 5,000 ppm for more than 30 minutes | Ventilate the room and look for
  sources such as dry ice or fermentation. If the error persists in a ventilated room,
  calibrate according to CAL-STR-02. |
| E12 | Particulate sensor laser fault | Contact support. The unit has to be returned. |
| E15 | Temperature or humidity sensor fault | Restart. If the error persists, contact support. |
| E17 | TVOC sensor drift out of tolerance | Keep solvents and cleaning agents away from the device
  for 48 hours. The error clears by itself once the sensor is stable. |
| E21 | Real-time clock lost | Connect the monitor to the network so that it can synchronise its
  clock. |
| E24 | Local storage full or damaged | Export the data, then select Maintenance > Format storage. |
| E30 | No network connection for more than 24 hours | Check the Wi-Fi password, the Ethernet link
  or the LoRaWAN coverage. |
| E31 | Wi-Fi authentication failed | Enter the Wi-Fi password again in the app. |
| E33 | LoRaWAN join failed after 10 attempts | Check that the gateway is online and that the
  device keys are registered on the network server. |
| E36 | Cloud certificate rejected | Check the device clock, and that no firewall inspects or
  replaces TLS certificates. |
| E42 | Particulate sensor fan stalled or running below 50 % of its rated speed | Clean the air
  inlets and restart. If the error persists, replace the fan module STR-SP-FAN (section 7.3). |
| E50 | Supply voltage too low | Use the supplied power supply, or check the PoE class of the
  switch port. |
| E99 | Firmware image corrupt | The monitor retries the update automatically. If the error
  persists, contact support. |

## 8.2 Problems without an error code

- CO2 readings seem too low, for example 400 ppm in an occupied room: the ABC baseline was
  probably learned while the room was occupied. Calibrate manually according to CAL-STR-02.
- The screen does not change: to save power, the e-paper screen only refreshes when a value
  changes noticeably. Press the front button to force a refresh.
- The monitor does not appear in the app during setup: check that Bluetooth is enabled on your
  phone and that you are within 5 m of the device.
- Two monitors in the same room differ by more than 100 ppm: let both run for 24 hours, then
  compare again before you calibrate either of them.

## 8.3 Factory reset

A factory reset removes the network settings and the room assignment, but keeps the
calibration. Press and hold the front button for 20 seconds, until the status ring flashes
white three times. You can also reset the monitor from the app under Maintenance > Factory
reset.

# 9 Warranty and service

Aurelwind warrants the Stratus AQ-200 against defects in materials and workmanship for the
warranty period stated for the product in the Aurelwind price list in force on the date of
purchase. The warranty period starts on the date of delivery. During the warranty period
Aurelwind repairs or replaces a defective device, at its discretion.

The warranty does not cover consumables such as particulate filters; damage caused by
incorrect installation, liquids, or exposure to solvents; devices whose housing has been
opened beyond the filter and fan compartment; or use outside the operating conditions.

To make a warranty claim, request a return authorisation (RMA) as described on the Shipping
and Returns page of the Aurelwind website, and have the serial number and proof of purchase
ready. Repaired or replacement devices are covered for the rest of the original warranty
period or for 90 days, whichever is longer.

# 10 Regulatory information

The Stratus AQ-200 complies with the Radio Equipment Directive 2014/53/EU and the RoHS
Directive 2011/65/EU. The declaration of conformity is available on the Aurelwind support
portal. Maximum transmit power: Wi-Fi 18 dBm, LoRaWAN 14 dBm (EU868), Bluetooth 8 dBm.

Do not dispose of the device with household waste. Return it to a collection point for
electrical and electronic equipment, or send it back to Aurelwind, which recycles it free
of charge.

Manufacturer: Aurelwind Instruments AG, Turbinenweg 7, 8005 Zurich, Switzerland.
"""

EXPENSES_POLICY = """
# 1 Purpose and scope

This policy sets out how business travel is booked and which expenses Aurelwind reimburses.
It applies to all employees and to contractors whose contract refers to it. Where local law
or a works agreement sets different rules, those rules take precedence.

# 2 Principles

Spend company money as carefully as you would spend your own. Choose the most economical
option that still serves the purpose of the trip, and think about whether the trip is needed
at all: a video call is often enough. When there is a reasonable choice, prefer the option
with the lower carbon footprint.

# 3 Approval and booking

Every business trip needs approval from your line manager in Ledgerline, our expense and
travel tool, before you book anything. Trips outside Europe also need approval from your
department head. Book flights, trains and hotels through the travel desk in Ledgerline, at
least 14 days before departure where possible. Bookings made outside the travel desk are
only reimbursed if they were cheaper than the travel desk offer for the same journey.

# 4 Transport

## 4.1 Rail and air

Take the train for journeys of up to 5 hours, for example Zurich to Lyon or Zurich to
Munich. Travel second class; first class is allowed for train journeys longer than 3 hours.
Book economy class for flights of up to 6 hours and premium economy for longer flights.
Business class needs prior approval from the CFO.

## 4.2 Private car

If you use your own car for a business trip, Aurelwind pays a mileage allowance of EUR 0.42
per kilometre. The allowance covers fuel, wear and insurance. Parking fees and road tolls
are reimbursed on top, with receipts. Fines are never reimbursed.

## 4.3 Taxis and ride-hailing

Taxis are reimbursed when public transport is impractical, when you carry heavy equipment,
or when you travel between 22:00 and 06:00.

# 5 Accommodation

Book standard rooms in business hotels close to where you work. The following caps apply
per night, including breakfast and excluding local city taxes:

| Location | Cap per night |
| Zurich, Geneva, London, Paris, Oslo, Copenhagen | EUR 240 |
| Other capital cities and major cities | EUR 180 |
| All other locations | EUR 140 |

Rooms above the cap need prior approval from Finance, which is usually granted during trade
fairs. If you stay with friends or family instead of a hotel, you may claim a flat EUR 40
per night without receipts.

# 6 Meals and per diem

For each full day away on an overnight trip you receive a per diem of EUR 55, which covers
meals and small incidental costs. For day trips longer than 10 hours the per diem is EUR 25.
The per diem is reduced by EUR 15 for each meal that is provided free of charge, for example
by a customer or at a conference.

Business meals with customers or partners are reimbursed up to EUR 90 per person, drinks
included. Record the names and companies of all attendees in the claim. Alcohol is only
reimbursed as part of such a business meal.

# 7 Claiming expenses

- Submit your claim in Ledgerline within 30 days after the end of the trip.
- Attach a receipt for every item above EUR 25. A clear photo of the receipt is enough; keep
  the original until the claim has been paid.
- Claims submitted more than 90 days after the trip are not reimbursed.
- Approved claims are paid with the next monthly salary.
- Employees who travel more than six times a year can ask Finance for a corporate card.
  Corporate card transactions must be matched with receipts in Ledgerline every month.

# 8 What is not reimbursed

- Fines, including parking and speeding fines
- Upgrades of flights, trains or hotel rooms that were not approved in advance
- Minibar, in-room films and personal entertainment
- Lost luggage or personal items; these are covered by the travel insurance instead
- Costs for partners or family members who travel with you

# 9 Questions

Questions about this policy go to the Finance team at finance@aurelwind.example. For
problems with a booking during a trip, call the travel desk number shown in Ledgerline.
"""

COMMERCIAL_TERMS = """
# 1 Scope

These general terms of sale apply to all sales of hardware, spare parts, software
subscriptions and services by Aurelwind Instruments AG ("Aurelwind") to business customers.
They do not apply to consumers. Terms of the customer apply only if Aurelwind has accepted
them in writing.

# 2 Quotes and orders

Quotes are valid for 60 days from their date unless they state otherwise. An order becomes
binding when Aurelwind confirms it in writing; an e-mail is sufficient. The minimum order
value is EUR 150 net. Aurelwind may refuse orders for products that have been discontinued.

# 3 Prices

Prices are those of the Aurelwind price list in force on the date of the order confirmation.
All prices are in euros, net, excluding VAT, customs duties and shipping. The price list is
updated once a year on 1 January; the current edition is the price list 2025.

# 4 Volume discounts

For hardware, Aurelwind grants a discount on the list price based on the number of units in
a single order. Units of all hardware products in the same order are counted together.

| Hardware units per order | Discount on list price |
| 1 to 9 | none |
| 10 to 49 | 5 % |
| 50 to 199 | 10 % |
| 200 or more | 15 %, or individual project pricing on request |

Volume discounts do not apply to spare parts, accessories, software subscriptions or
services. They cannot be combined with the partner discount described in section 5.

# 5 Partner programme

Registered resellers and system integrators receive a partner discount instead of the
volume discount. The partner discount and the conditions for registration are set out in
the separate partner agreement.

# 6 Payment terms

- Invoices are payable within 30 days of the invoice date, without deduction.
- If an invoice is paid within 10 days, the customer may deduct an early payment discount of
  2 % on the hardware part of the invoice.
- For the first order of a new customer with a value above EUR 10,000, Aurelwind may ask for
  an advance payment of 30 %.
- Software subscriptions are invoiced yearly in advance.
- Late payments bear interest at 5 % per year.

# 7 Delivery

Delivery times follow the lead times in the price list and are counted from the order
confirmation. Lead times are estimates unless a fixed delivery date has been agreed in
writing. Shipping methods and charges are described in the Aurelwind Shipping and Returns
policy. The risk passes to the customer when the goods are handed over to the carrier.

# 8 Retention of title

Goods remain the property of Aurelwind until they have been paid in full.

# 9 Warranty

Aurelwind warrants its hardware against defects in materials and workmanship for the
warranty period stated for each product in the price list. Within the warranty period
Aurelwind repairs or replaces defective products at its discretion; this is the customer's
exclusive remedy. Defects must be notified in writing without delay after they are found.
Consumables and damage caused by improper use are excluded. Service levels for software
subscriptions are defined in the Aurelwind support service level document.

# 10 Liability

Aurelwind's liability is limited to the net value of the order concerned. Aurelwind is not
liable for indirect or consequential damage, lost profit or lost data, except in cases of
intent or gross negligence.

# 11 Governing law and jurisdiction

These terms are governed by Swiss law, excluding the United Nations Convention on Contracts
for the International Sale of Goods (CISG). The courts of Zurich, Switzerland, have exclusive
jurisdiction.
"""

# --------------------------------------------------------------------------------------------
# DOCX documents
# --------------------------------------------------------------------------------------------

LEAVE_POLICY = """
# Overview

This policy describes the paid and unpaid leave available to employees of Aurelwind
Instruments AG in all countries. Where local law grants more generous leave, local law
applies. Part-time employees receive all leave entitlements pro rata to their working time.
Leave is requested and approved in PeopleDesk, our HR portal.

# Annual leave

Full-time employees receive 27 working days of paid annual leave per calendar year. After
5 years of service you receive one additional day, and after 10 years two additional days.

Please request leave of more than three days at least two weeks in advance, and agree the
dates with your team so that customer commitments are covered. The offices close between
24 December and 1 January; three working days of this closure are deducted from annual
leave, the rest are granted by the company.

## Carrying leave over

You may carry up to 5 days of unused annual leave into the next calendar year. Carried-over
days must be taken by 31 March; after that date they lapse. Leave cannot be exchanged for
money, except when you leave the company.

# Public holidays

Each office observes the public holidays of its location. The holiday calendar for every
office is published in PeopleDesk at the start of each year.

# Sick leave

If you are ill, tell your manager before 09:30 on the first day of absence. From the fourth
consecutive calendar day of illness, a medical certificate is required. Sick leave is paid
in full for up to 60 working days per calendar year; after that, the rules of local social
insurance apply.

# Parental leave

## Birth parent

The birth parent receives 16 weeks of parental leave at full pay. The leave can start up to
two weeks before the expected date of birth.

## Other parent

The other parent, including a same-sex partner, receives 20 working days of parental leave
at full pay. The leave must be taken within 6 months of the birth and can be taken in one
block or in up to four blocks of at least five working days each.

## Adoption

For an adoption of a child under 12, the primary carer receives the same leave as a birth
parent and the second carer the same leave as the other parent. The leave starts on the day
the child joins the family.

## Returning to work

After parental leave, you may reduce your working time to as little as 60 % for up to 6
months and then return to your previous working time. Please tell the People team at least
4 weeks before you return.

# Other paid leave

The following special leave is paid in full and does not count against annual leave.

| Occasion | Paid leave | Notes |
| Own wedding or registered partnership | 3 days | Within one month of the event |
| Moving house | 1 day | Once per calendar year |
| Death of a partner, child or parent | 5 days | |
| Death of another close relative | 2 days | Siblings, grandparents, parents-in-law |
| Caring for a sick child | Up to 5 days per year | Medical certificate from the third day |
| Volunteering | 2 days per year | For a registered charity, approved by your manager |
| Military or civil service | As required by law | Bring the call-up notice to the People team |

# Unpaid leave and sabbaticals

After three years of service you can apply for unpaid leave of up to three months. Apply at
least three months in advance. Your manager decides on the request, taking into account the
needs of the team.

# Contact

Questions about leave go to the People team at people@aurelwind.example.
"""

CODE_OF_CONDUCT = """
# A message from our CEO

Aurelwind measures the air people breathe. Our customers trust our numbers, and that trust
depends on how each of us behaves. This Code describes what we expect from everyone who
works for Aurelwind. If something is not covered here, ask yourself whether you would be
comfortable reading about your decision in the newspaper. - Helene Brandauer, CEO

# Who the Code applies to

The Code applies to all employees, managers and members of the board of Aurelwind
Instruments AG and its subsidiaries, and to contractors while they work for us. We expect
suppliers and partners to follow comparable standards.

# Respect at work

We treat each other with respect. Harassment, bullying and discrimination on the basis of
gender, origin, religion, disability, age, sexual orientation or any other characteristic
are not tolerated. Managers have a special responsibility to act when they see such
behaviour.

# Gifts and hospitality

## Receiving gifts

You may accept occasional gifts of modest value from business partners, up to a value of
EUR 50 per gift. Do not accept more than two such gifts from the same business partner in a
calendar year. Cash, vouchers and gift cards may never be accepted, whatever their value.

Gifts above the limit must be politely declined. If declining would be offensive, accept the
gift on behalf of the company, hand it to Compliance, and record it in the gift register on
the intranet.

## Giving gifts

The same limit applies to gifts you give. Gifts to public officials, including employees of
public hospitals, schools and utilities, are not allowed at all.

## Hospitality

Business meals of a reasonable standard are part of normal business. Invitations to events
that include travel or an overnight stay need prior approval from Compliance, whether you
receive or give them.

# Conflicts of interest

Declare any situation in which your personal interests could conflict with those of
Aurelwind, for example a second job, a close relative working for a supplier or competitor,
or a financial interest in a business partner. Declarations are made to your manager and
recorded by Compliance. A declared conflict can usually be managed; a hidden one cannot.

# Fair competition and anti-bribery

We win business on the merits of our products. We do not agree prices or territories with
competitors, and we never offer, promise or accept bribes or facilitation payments, directly
or through agents and distributors.

# Protecting information

Treat confidential information of Aurelwind, our customers and our partners with care, and
only share it with people who need it for their work. Follow the information security rules
on the intranet. Measurement data from customer devices belongs to our customers and may only
be used as agreed in their contract.

# Speaking up

If you see something that breaks this Code or the law, speak up. You can talk to your
manager, to the People team, or to our Compliance Officer, Dr. Anouk Verhaegen. You can also
report anonymously through the Speak Up portal at speakup.aurelwind.example. Nobody who
raises a concern in good faith will suffer any disadvantage for doing so.

# Consequences

Breaches of the Code can lead to disciplinary action, up to and including dismissal, and
may have to be reported to the authorities.
"""

CIRRUS_INSTALL = """
# Introduction

The Cirrus WS-450 is a solar-powered outdoor weather station for campuses, farms, building
management and municipal networks. It is available in two versions:

- Cirrus WS-450 Standard: air temperature, relative humidity, barometric pressure, wind
  speed, wind direction and rainfall.
- Cirrus WS-450 Pro: all Standard measurements plus solar radiation and UV index.

The station sends its data over LoRaWAN, either through an Aurelwind Nimbus LG-8 gateway or
through any LoRaWAN network that covers the site. This guide explains how to choose a site,
mount the station and put it into operation.

# Technical specifications

| Parameter | WS-450 Standard | WS-450 Pro |
| Air temperature | −40 to +60 °C, ±0.2 °C | −40 to +60 °C, ±0.2 °C |
| Relative humidity | 0 to 100 %, ±2 % | 0 to 100 %, ±2 % |
| Barometric pressure | 300 to 1,100 hPa, ±0.5 hPa | 300 to 1,100 hPa, ±0.5 hPa |
| Wind speed | Cup anemometer, 0 to 60 m/s | Cup anemometer, 0 to 60 m/s |
| Wind direction | Wind vane, 0 to 359°, ±3° | Wind vane, 0 to 359°, ±3° |
| Rainfall | Tipping bucket, 0.2 mm resolution | Tipping bucket, 0.2 mm resolution |
| Solar radiation | — | 0 to 1,800 W/m² |
| UV index | — | 0 to 15 |
| Radio | LoRaWAN EU868, class A | LoRaWAN EU868, class A |
| Power | 10 W solar panel, LiFePO4 battery | 10 W solar panel, LiFePO4 battery |
| Autonomy without sun | 14 days | 10 days |
| Ingress protection | IP66 | IP66 |
| Weight without mast | 3.2 kg | 3.6 kg |

# Before you start

You will need:

- a mast or pipe with an outer diameter of 32 to 50 mm (a 3 m mast kit is available)
- a 13 mm spanner and a torque wrench
- a compass, or a phone with a compass app that shows true north
- a phone with the Aurelwind Connect app
- a ladder or lifting platform suitable for the mounting height

Check that there is LoRaWAN coverage at the site before installation. The signal strength
at the mounting position should be better than −115 dBm. The Aurelwind Connect app shows the
signal strength of nearby gateways in Tools > Coverage check.

# Choosing the site

## Wind sensors

Wind is best measured 10 m above open ground. The horizontal distance to buildings, trees
and other obstacles should be at least ten times their height. On a roof, mount the station
at least 2 m above the roof surface, preferably at the windward edge, to stay out of the
turbulence that the roof creates.

## Temperature and humidity

The temperature and humidity sensor sits in a radiation shield on the side arm. For
readings that are comparable with official weather services, it should be 1.5 to 2 m above
a natural surface such as grass. Avoid asphalt, walls that face south and the exhaust air of
ventilation or cooling units.

## Rain gauge

The rain gauge must be level and must not be sheltered by trees, roof edges or the mast
itself. Keep it away from sprinklers.

# Mounting

1. Assemble the mast on the ground and fix the mounting bracket to it with the two U-bolts.
2. Attach the station to the bracket. Do not tighten the bolts fully yet.
3. Raise the mast and fix it in place.
4. Turn the station until the N marker on the wind vane housing points to true north, not
   magnetic north. In Switzerland the difference is small, but in other regions it can be
   several degrees.
5. Tighten the U-bolts to 8 Nm.
6. Level the rain gauge using the built-in bubble level and the three adjusting screws.
7. Connect the earthing cable to the mast. A lightning protection specialist should check
   installations on high roofs.

# Commissioning

1. Open the battery compartment and pull out the red isolation tab.
2. The status LED flashes green three times, then the station tries to join the LoRaWAN
   network. A successful join is shown by a long green flash.
3. In the Aurelwind Connect app, tap Add device, scan the QR code on the station and assign
   it to a site.
4. The first measurements appear in the app within 10 minutes.

The station sends a reading every 5 minutes. The interval can be changed in the app from
1 to 60 minutes; shorter intervals reduce the autonomy without sun.

## Pairing with a Nimbus gateway

If you use your own Nimbus LG-8 gateway, install and connect the gateway first, following
the Nimbus LG-8 quick start guide. Stations bought from Aurelwind are pre-registered in the
Aurelwind Cloud, so no further pairing is needed.

# After installation

Check the readings after 24 hours and compare them with a nearby reference, for example the
national weather service. If the station reports a status code, look it up in the Cirrus
WS-450 troubleshooting guide on the Aurelwind support site.
"""

SUPPORT_SLA = """
# Scope

This document describes the support that Aurelwind provides for the Aurelwind Cloud and for
Aurelwind hardware, and the service levels that apply to each support plan. It forms part of
every Aurelwind Cloud subscription.

# Support plans

Every Aurelwind Cloud subscription includes the Standard plan. Customers can upgrade to the
Priority or Critical plan for an annual fee per organisation, as shown in the price list.

| | Standard | Priority | Critical |
| Support hours | Mon–Fri 08:00–18:00 CET | Mon–Fri 07:00–20:00 CET | 24/7 |
| Channels | Portal, e-mail | Portal, e-mail, phone | Portal, e-mail, phone, named engineer |
| First response, severity 1 | 8 business hours | 2 business hours | 30 minutes |
| First response, severity 2 | Next business day | 4 business hours | 2 hours |
| First response, severity 3 | 3 business days | Next business day | Next business day |
| Advance hardware replacement | No | Yes, dispatched next business day | Yes, same-day dispatch |
| Cloud availability target | 99.5 % | 99.9 % | 99.95 % |

# Severity levels

- Severity 1: the Aurelwind Cloud is unavailable, or data from all devices of the customer
  is missing.
- Severity 2: a major function is unavailable, or data from a significant part of the
  customer's devices is missing, and there is no workaround.
- Severity 3: a minor function does not work as described, or there is a workaround.
- Questions about how to use the product are handled as severity 3.

# Availability and service credits

Availability is measured per calendar month, excluding maintenance windows announced at
least five days in advance. If availability falls below the target of the customer's plan,
the customer receives a service credit of 10 % of the monthly subscription fee for each
started 0.5 percentage point below the target, up to 50 % of the monthly fee. Credits must
be requested within 30 days after the end of the month.

# How to contact support

- Support portal: support.aurelwind.example
- E-mail: support@aurelwind.example
- Phone (Priority and Critical plans only): +41 44 555 01 90

When you contact support, please give the serial number of the device, the firmware
version and a description of what you expected and what happened instead.

# Exclusions

The service levels do not apply to problems caused by the customer's network, by
third-party LoRaWAN network servers, by modifications of the hardware, or by use of the
API beyond the documented limits.
"""

# --------------------------------------------------------------------------------------------
# HTML documents (content of <main>; the page templates are in make_corpus.py)
# --------------------------------------------------------------------------------------------

SECURITY_POLICY = """
# Passwords

- Your password must be at least 14 characters long. We recommend a passphrase of four or
  more unrelated words.
- Use a different password for every system. Never reuse your Aurelwind password for a
  private account.
- Store passwords in Vaultline, the company password manager. Do not write passwords down or
  keep them in documents or browser notes.
- You do not have to change your password on a schedule. Change it at once if you think it
  may have been seen or stolen, and tell the IT helpdesk.
- Never share your password, not even with colleagues or IT. IT staff will never ask you for
  it.

# Multi-factor authentication

Multi-factor authentication (MFA) is required for every company account. Use the
authenticator app on your company phone or the hardware security key that IT gives you on
your first day. Codes sent by text message are not accepted as a second factor.

# Laptops and phones

- Company laptops are encrypted and managed by IT. Do not disable the encryption, the
  firewall or the endpoint protection.
- Your screen locks automatically after 5 minutes of inactivity. Lock it yourself whenever
  you leave your desk.
- Install security updates within 7 days of being prompted. Devices that are more than 14
  days behind lose access to company systems until they are updated.
- Private devices may only be used for e-mail and chat, and only through the managed apps.
- On public Wi-Fi, the always-on VPN protects your connection. Do not switch it off.

# Classifying information

| Class | Examples | Rules |
| Public | Website, published datasheets | No restrictions |
| Internal | Intranet pages, internal announcements | Share only inside Aurelwind |
| Confidential | Customer data, prices in quotes, source code | Share only with those who need it;
  encrypt when sending outside |
| Strictly confidential | Salary data, unreleased financial results, security keys | Named
  people only; never by e-mail attachment |

# Reporting incidents

Report every suspected security incident immediately, and in any case within one hour of
noticing it. Incidents include lost or stolen devices, phishing e-mails you clicked on,
messages sent to the wrong recipient, and unusual behaviour of your computer. Report to
security@aurelwind.example or call the IT helpdesk. Outside office hours, call the security
on-call number shown on the back of your badge.

Use the Report phishing button in the mail client for suspicious e-mails. Do not forward
them to colleagues.
"""

CIRRUS_TROUBLESHOOTING = """
# How status codes work

When the Cirrus WS-450 detects a problem, it sends a status code with its next reading. The
code is shown in the Aurelwind Connect app on the station's page and in the daily status
e-mail. Codes starting with W-1 concern power, W-2 the sensors, W-3 the rain gauge and W-4
the radio link. Most warnings clear by themselves once the cause has gone.

# Status codes

| Code | Meaning | What to do |
| W-101 | Battery below 20 % | Check that the solar panel is clean and not shaded, especially in
  winter when the sun is low. |
| W-102 | Battery below 5 %; the station is in power-save mode and reports every 30 minutes |
  Clean the solar panel. If this happens every winter, fit the 20 W solar panel upgrade. |
| W-110 | Solar panel has not charged for 48 hours of daylight | Check the panel connector
  for corrosion and the cable for damage. |
| W-201 | Temperature and humidity sensor not responding | Check the cable between the
  radiation shield and the main housing. |
| W-205 | Humidity at 100 % for more than 12 hours | Usually caused by fog or dew. The
  warning clears when the sensor dries. If it persists in dry weather, replace the sensor
  head. |
| W-214 | Anemometer reports zero wind speed for 72 hours while the wind direction keeps
  changing | The anemometer cups are blocked by ice, debris or a failing bearing. Inspect and
  clean the cups. If they do not spin freely, replace the anemometer cup set CIR-SP-ANEMO. |
| W-220 | Wind vane has not moved for 72 hours | Check the vane for ice or a bird nest and
  make sure it turns freely. |
| W-231 | Barometric pressure out of range | Restart the station. If the code returns,
  contact support. |
| W-240 | Solar radiation sensor dome dirty (Pro only) | Clean the dome with water and a soft
  cloth. Do not use solvents. |
| W-307 | Rain gauge bucket stuck | Remove leaves and insects from the funnel filter and
  check that the bucket tips freely. |
| W-310 | Rain gauge not level | Level the gauge with the bubble level and the adjusting
  screws. |
| W-402 | Readings not acknowledged by the network | Check that the gateway is online. |
| W-405 | Join to the LoRaWAN network failed | Check that the station is registered on the
  network server with the correct keys. |
| W-410 | Weak radio signal, below −120 dBm | Move the station or the gateway, or add a
  gateway closer to the site. |

# Restarting the station

Hold the magnet supplied with the station against the RESET mark on the underside of the
main housing for 5 seconds. The status LED flashes red once and the station restarts; it
keeps its settings and rejoins the network automatically.

# Still stuck?

Open a ticket on the support portal with the station's serial number and the status code.
If you have a Priority or Critical support plan, you can also call us.
"""

SHIPPING_RETURNS = """
# Shipping

We ship from our logistics centre in Rotterdam, the Netherlands. Orders received by 14:00
CET on a business day are dispatched the same day if all items are in stock. For items that
are not in stock, the lead time shown in the price list applies.

| Destination | Service | Charge per order | Typical transit time |
| EU and Switzerland | Standard parcel | EUR 12, free above EUR 500 net | 2 to 4 business days |
| EU and Switzerland | Express | EUR 35 | 1 to 2 business days |
| United Kingdom and Norway | Standard parcel | EUR 25 | 3 to 5 business days |
| Rest of the world | On request | Quoted individually | Depends on destination |

Customs duties and import taxes outside the EU are paid by the recipient, except for
deliveries to Switzerland, which we send duty paid. Pallet deliveries for large orders are
quoted individually.

# Damaged or incomplete deliveries

Please check every delivery when it arrives. Report visible transport damage to the driver
and note it on the delivery receipt. Report any damage or missing items to us within 5
business days of delivery, with photos of the packaging and the product.

# Returns

You may return unused products in their original packaging within 30 days of delivery.

1. Request a return authorisation (RMA) number on the returns portal at
   returns.aurelwind.example. Returns without an RMA number cannot be accepted.
2. Pack the products in their original packaging and write the RMA number on the outside of
   the parcel.
3. Send the parcel to the address shown in the RMA confirmation. The customer pays the cost
   of return shipping.

We charge a restocking fee of 15 % of the net invoice value of the returned products.
Refunds are made to the original payment method within 14 days after the return arrives at
our logistics centre.

The following cannot be returned: opened consumables such as particulate filters, units
that were configured or engraved to order, and software subscriptions.

# Warranty returns

For warranty claims, request an RMA number in the same way and choose "warranty" as the
reason. For valid warranty claims there is no restocking fee, and we pay the shipping in
both directions. Customers with a Priority or Critical support plan receive a replacement
device before they send back the defective one.
"""

ABOUT_PAGE = """
# Who we are

Aurelwind Instruments AG designs and builds sensors that measure the air: indoors, where
people work and learn, and outdoors, where weather and air quality affect cities and
farms. The company was founded in 2011 in Zurich by the atmospheric physicist Dr. Lena Aurel
and the electronics engineer Marek Windisch, whose names gave the company its name.

Today about 140 people work for Aurelwind in four locations: our headquarters in Zurich,
our research and development centre in Lyon, our logistics centre in Rotterdam and our
customer support centre in Gdansk.

# What we make

- Stratus AQ-200: an indoor air quality monitor for offices, schools and hospitals that
  measures CO2, particulate matter, volatile organic compounds, temperature and humidity.
- Cirrus WS-450: a solar-powered outdoor weather station for campuses, farms and municipal
  networks.
- Nimbus LG-8: an eight-channel LoRaWAN gateway that connects our sensors, and those of other
  manufacturers, to the network.
- Aurelwind Cloud: the platform where customers see, analyse and export their data.

# How we work

Every sensor we ship is calibrated individually in our Zurich laboratory and comes with its
own calibration certificate. We design our devices to be repaired rather than replaced: fans,
filters, batteries and anemometer cups can be changed on site. Aurelwind has been certified
to ISO 9001 since 2016 and to ISO 14001 since 2021.

# Careers

We are always looking for engineers, scientists and people who like to explain technology to
customers. See our open positions on the careers page.
"""

# --------------------------------------------------------------------------------------------
# Markdown documents (written out verbatim)
# --------------------------------------------------------------------------------------------

REMOTE_WORK_MD = """\
# Remote Work Policy

Policy HR-07 · Owner: People team · Effective 1 January 2025

Aurelwind is a hybrid company. We believe that good work can be done from home, and that
some things - building a device, welcoming a new colleague, solving a hard problem on a
whiteboard - work better when we are together. This policy sets out how we combine the two.

## Who can work remotely

All employees can work remotely once they have completed their probation period, provided
their role allows it. Roles that need physical presence, such as laboratory, production and
logistics roles, are excluded or agree individual arrangements with their manager.

## How much

- You may work remotely for up to **3 days per week**.
- Each team agrees at least one *anchor day* per week on which everyone is in the office.
- Fully remote work is only possible by exception, with the approval of the department head
  and the People team.

## Core hours

Everyone is reachable between 10:00 and 15:00 local time on working days, wherever they
work. Outside the core hours you organise your time freely within the working-time rules.

## Working from another country

You may work from another country in the EU or EFTA for up to 25 working days per calendar
year. Each stay needs approval in PeopleDesk at least two weeks in advance, because of tax
and social security rules. Working from countries outside the EU and EFTA is not allowed.

## Equipment and allowances

Aurelwind provides a laptop, an external monitor, a keyboard, a mouse and a headset for
your home office. In addition:

1. **Home office set-up allowance:** a one-off payment of EUR 600 towards a desk, an
   office chair or lighting. Claim it in Ledgerline with receipts within your first
   6 months of remote work.
2. **Internet allowance:** EUR 25 per month, paid with your salary.
3. Printing at home is not reimbursed; please print in the office if you must.

## Your home workplace

Your workplace at home should be safe and healthy:

- a table at the right height and a chair that supports your back,
- enough light, and a screen placed so that windows do not reflect on it,
- a stable internet connection of at least 20 Mbit/s.

The People team offers a free ergonomic check by video call.

## Security

The rules of the information security policy apply at home as in the office. Lock your
screen when you leave it, do not let family members use your company laptop, and take
confidential calls where nobody can listen in.

## Questions

Ask your manager or the People team (people@aurelwind.example).
"""

ONBOARDING_MD = """\
# Welcome to Aurelwind: your first weeks

Grüezi, bonjour, goedendag and dzień dobry! Whether you join us in Zürich, Lyon, Rotterdam
or Gdańsk, this page tells you what happens in your first weeks and who can help you.

## Before your first day

- [ ] Sign and return your employment contract and the confidentiality agreement.
- [ ] Send your bank details and a copy of your ID to the People team.
- [ ] Upload a photo for your badge in PeopleDesk (you get the login by e-mail one week
      before you start).
- [ ] Tell us your preferred laptop keyboard layout (Swiss German, French, US or Polish).

## Your first day

Come to the reception of your office at **09:30**. Your manager and your onboarding buddy
will meet you there. In Zürich the reception is on the ground floor of Turbinenweg 7; take
tram 4 to the stop *Förrlibuckstrasse*.

On the first day you will:

1. receive your laptop, phone and hardware security key from IT,
2. set up your accounts and multi-factor authentication,
3. have lunch with your team (the first lunch is on us - enjoy the café on the top floor),
4. get a tour of the office and, in Zürich, of the calibration laboratory.

## Your onboarding buddy

Your buddy is a colleague from another team who has been with Aurelwind for at least a
year. Meet them at least once a week during your first month. Buddies answer the questions
you may not want to ask your manager: where things are, how decisions are made, who knows
what.

## The first 90 days

### Days 1 to 30: learn

- Complete the mandatory e-learning modules: information security, code of conduct, data
  protection and workplace safety.
- Attend the product introduction, where you build your own Stratus monitor.
- Read the employee handbook pages on the intranet.

### Days 31 to 60: contribute

- Agree your objectives for the first year with your manager.
- Take over your first tasks of your own.

### Days 61 to 90: own

- Have your probation review with your manager. The probation period is 3 months.
- Give us feedback on your onboarding in the short survey that the People team sends you.

## Who to ask

| Topic | Contact |
| --- | --- |
| Contract, pay, leave | People team, people@aurelwind.example |
| Laptop, accounts, passwords | IT helpdesk, extension 2100 |
| Expenses and travel | Finance, finance@aurelwind.example |
| Everything else | Your buddy |

Welcome aboard - we are glad you are here!
"""

NIMBUS_QUICKSTART_MD = """\
# Nimbus LG-8 LoRaWAN Gateway - Quick Start Guide

The Nimbus LG-8 is an eight-channel LoRaWAN gateway for the EU868 band. It connects Stratus
AQ-200 (LoRaWAN variant) monitors, Cirrus WS-450 weather stations and third-party LoRaWAN
devices to a network server. Two versions exist:

- **Nimbus LG-8 Indoor** - for mounting in technical rooms and ceilings, powered by a 12 V
  DC adapter or PoE.
- **Nimbus LG-8 Outdoor** - in an IP67 enclosure for masts and façades, powered by PoE.

Both versions can use Ethernet or Wi-Fi as backhaul; an optional LTE module is available
for sites without a wired network.

## 1. Connect the hardware

1. Screw the antenna onto the antenna connector. **Never power the gateway without an
   antenna connected** - this can damage the radio.
2. Connect the Ethernet cable to your network.
3. Connect the power: the 12 V DC adapter (Indoor only) or a PoE+ port that complies with
   IEEE 802.3at.

The power LED turns green. After about two minutes the status LED shows the state of the
gateway (see section 4).

## 2. Open the web interface

If the gateway gets an address by DHCP, find it in your router, or run the discovery tool:

```console
$ nimbusctl discover
Nimbus LG-8  serial NB8-23-004711  192.168.1.57  firmware 2.4.0
```

Without a network, the gateway opens a set-up Wi-Fi network called `NIMBUS-` followed by
the last four digits of its serial number. Connect to it and open `http://192.168.50.1`.
Log in as `admin` with the password printed on the label. You must choose a new password
at the first login.

## 3. Configure the packet forwarder

By default the gateway forwards packets to the Aurelwind Cloud network server. To use
another network server, open **LoRa > Packet forwarder** and edit the configuration. The
gateway uses the UDP packet forwarder protocol; uplinks and downlinks both go to UDP port
1700 on the network server:

```json
{
  "gateway_conf": {
    "gateway_ID": "0016C001FF10A2B3",
    "server_address": "lns.aurelwind.example",
    "serv_port_up": 1700,
    "serv_port_down": 1700,
    "keepalive_interval": 10,
    "stat_interval": 30
  }
}
```

Replace `server_address` with the host name of your network server. The `gateway_ID` is
the gateway EUI printed on the label; do not change it.

## 4. Status LED

| LED | Meaning |
| --- | --- |
| Green, steady | Connected to the network server |
| Green, blinking | Connected, receiving packets |
| Orange, steady | Backhaul up, no response from the network server |
| Red, blinking | No backhaul connection (Ethernet, Wi-Fi or LTE) |
| Blue, blinking | Firmware update in progress - do not switch off |

## 5. Firewall requirements

The gateway only makes outbound connections:

- UDP 1700 to the network server,
- TCP 443 to `manage.aurelwind.example` for monitoring and firmware updates,
- UDP 123 for time synchronisation (NTP).

## 6. Next steps

Register your devices on the network server. Devices bought from Aurelwind are
pre-registered in the Aurelwind Cloud. For the installation of the sensors themselves, see
the Stratus AQ-200 user manual and the Cirrus WS-450 installation guide.
"""

RELEASE_NOTES_MD = """\
# Stratus AQ-200 firmware release notes

Firmware updates are installed automatically on Wi-Fi and PoE monitors. LoRaWAN monitors are
updated from the Aurelwind Connect app over Bluetooth. Versions are listed newest first.

## 3.2.1 - 4 March 2025

### Fixed

- Wi-Fi monitors now reconnect reliably after a router restart. Previously some units
  waited up to an hour before reconnecting.
- The TVOC sensor recovers faster after exposure to cleaning agents, so error E17 clears
  sooner.
- Updated the trusted root certificates used for connections to the Aurelwind Cloud.

## 3.2.0 - 20 January 2025

### New

- Night mode hours can now be configured per device (previously fixed).
- Alerts can be delivered as webhooks.
- The device status page shows the date of the last filter change.

### Changed

- The automatic baseline correction window for CO2 was extended from 7 to 8 days, which
  gives more stable results in offices that are also used on Saturdays.

## 3.1.4 - 2 October 2024

### Fixed

- The 24-hour trend page showed an empty chart after a daylight saving time change.
- Rare crash when the measurement interval was set to 10 seconds on LoRaWAN units.

## 3.1.0 - 10 June 2024

### New

- Support for WPA2-Enterprise (PEAP-MSCHAPv2) networks.
- Static IP configuration for PoE monitors over Bluetooth.

## Known issues

- On PoE monitors connected to some older switches, the link can take up to 60 seconds to
  come up after a power failure. No action is needed.
"""

# --------------------------------------------------------------------------------------------
# Plain text documents
# --------------------------------------------------------------------------------------------

CALIBRATION_TXT = """\
AURELWIND INSTRUMENTS AG - FIELD PROCEDURE
Document:  CAL-STR-02, revision 3
Title:     Manual CO2 field calibration of the Stratus AQ-200
Applies:   Stratus AQ-200, all variants, firmware 3.0 and later
Approved:  Quality Assurance, Zurich

1. WHEN TO USE THIS PROCEDURE

   - Every 6 months for monitors with automatic baseline correction (ABC) disabled,
     e.g. in buildings occupied around the clock.
   - When CO2 readings are clearly too low or too high compared with a reference
     instrument.
   - When error E07 persists in a well ventilated room.

2. WHAT YOU NEED

   - Fresh outdoor air, or a room with all windows wide open for at least 15 minutes.
     The reference value is 420 ppm.
   - A USB power bank if you calibrate outdoors (Wi-Fi and LoRaWAN variants). PoE
     monitors are calibrated next to a fully opened window.
   - No rain, and a temperature between 5 and 35 deg C.

3. PROCEDURE

   Step 1  Take the monitor off the wall and place it outdoors in the shade, at least
           5 m from roads, car parks, chimneys and air outlets, or next to the open
           window.
   Step 2  Leave it powered for 20 minutes so that the readings can stabilise. Stay at
           least 2 m away and do not breathe towards the device.
   Step 3  Press and hold the front button for 8 seconds, until the status ring turns
           purple. Then release the button.
   Step 4  The ring pulses purple for about 3 minutes while the monitor sets its
           baseline to 420 ppm.
   Step 5  A steady green ring means the calibration succeeded. A red flashing ring
           means the readings were not stable enough; wait 10 minutes and repeat
           from Step 3.
   Step 6  Put the monitor back in place and record the date, serial number and your
           name in the calibration log.

4. NOTES

   - Do not hold the button for longer than 15 seconds: after 20 seconds the monitor
     performs a factory reset instead.
   - Calibration does not change the particulate, temperature or humidity readings.
   - If the calibration fails three times in a row, contact Aurelwind support.
"""

HELPDESK_MEMO_TXT = """\
To:      All staff
From:    IT Operations
Date:    17 February 2025
Subject: New IT service desk from 3 March 2025

Dear colleagues,

From Monday 3 March 2025 the IT helpdesk moves to a new service desk. What changes
for you:

* Tickets: open all requests at help.aurelwind.example instead of writing to the old
  IT mailbox. The old mailbox will forward messages until the end of April and will
  then be closed.

* Phone: the helpdesk stays on internal extension 2100 (+41 44 555 21 00 from
  outside). The phone line is staffed from 07:30 to 18:00 CET on working days.

* Urgent problems outside these hours: only if you cannot work at all, or for
  security incidents, call the on-call number on the back of your badge.

* Password resets: you can now reset your password yourself on the sign-in page,
  after confirming with your second factor. No ticket is needed.

* Software: request software from the catalogue in the service desk. Standard
  software is installed automatically within one hour of approval.

* Laptop replacement: laptops are replaced every 4 years. You will receive an
  invitation to choose your new laptop two months before yours is due.

Thank you for your patience during the first weeks.

IT Operations
"""

# --------------------------------------------------------------------------------------------
# Structured data
# --------------------------------------------------------------------------------------------

PRICE_LIST_COLUMNS = (
    "sku",
    "product",
    "category",
    "list_price_eur",
    "unit",
    "warranty_years",
    "lead_time_days",
    "status",
)

# sku, product, category, price (EUR), unit, warranty years, lead time (days), status
# fmt: off
PRICE_LIST: list[tuple[str, str, str, float, str, int, int, str]] = [
    ("STR-200-WF", "Stratus AQ-200 indoor air quality monitor, Wi-Fi", "Hardware",
     289.00, "piece", 3, 5, "active"),
    ("STR-200-LR", "Stratus AQ-200 indoor air quality monitor, LoRaWAN", "Hardware",
     319.00, "piece", 3, 10, "active"),
    ("STR-200-POE", "Stratus AQ-200 indoor air quality monitor, PoE", "Hardware",
     339.00, "piece", 3, 10, "active"),
    ("STR-100-WF", "Stratus AQ-100 indoor CO2 monitor, Wi-Fi (previous generation)",
     "Hardware", 199.00, "piece", 2, 0, "discontinued"),
    ("STR-ACC-DESK", "Desk stand for Stratus AQ-200", "Accessory",
     24.00, "piece", 1, 5, "active"),
    ("STR-ACC-PSU", "USB-C power supply 5 V / 2 A, EU plug", "Accessory",
     19.00, "piece", 1, 5, "active"),
    ("STR-ACC-PSU-UK", "USB-C power supply 5 V / 2 A, UK plug", "Accessory",
     21.00, "piece", 1, 10, "active"),
    ("STR-ACC-CAGE", "Protective wire cage for Stratus, for sports halls and schools",
     "Accessory", 49.00, "piece", 1, 15, "active"),
    ("STR-SP-PMF3", "Particulate pre-filter for Stratus AQ-200, pack of 3", "Spare part",
     27.00, "pack", 0, 5, "active"),
    ("STR-SP-PMF20", "Particulate pre-filter for Stratus AQ-200, pack of 20", "Spare part",
     149.00, "pack", 0, 5, "active"),
    ("STR-SP-FAN", "Fan module for Stratus AQ-200", "Spare part",
     36.00, "piece", 1, 5, "active"),
    ("STR-SP-PLATE", "Wall plate for Stratus AQ-200, with screws", "Spare part",
     9.00, "piece", 1, 5, "active"),
    ("CIR-450-STD", "Cirrus WS-450 Standard outdoor weather station", "Hardware",
     849.00, "piece", 3, 15, "active"),
    ("CIR-450-PRO", "Cirrus WS-450 Pro outdoor weather station, with solar radiation and UV",
     "Hardware", 1190.00, "piece", 3, 15, "active"),
    ("CIR-ACC-MAST3", "Mast kit 3 m, galvanised steel, with guy wires", "Accessory",
     139.00, "kit", 2, 10, "active"),
    ("CIR-ACC-WALL", "Wall bracket for Cirrus WS-450", "Accessory",
     59.00, "piece", 2, 10, "active"),
    ("CIR-ACC-SOLAR20", "Solar panel upgrade 20 W for Cirrus WS-450", "Accessory",
     119.00, "piece", 2, 20, "active"),
    ("CIR-SP-ANEMO", "Anemometer cup set for Cirrus WS-450", "Spare part",
     45.00, "set", 1, 10, "active"),
    ("CIR-SP-VANE", "Wind vane for Cirrus WS-450", "Spare part",
     39.00, "piece", 1, 10, "active"),
    ("CIR-SP-BUCKET", "Rain gauge bucket assembly for Cirrus WS-450", "Spare part",
     42.00, "piece", 1, 10, "active"),
    ("CIR-SP-THHEAD", "Temperature and humidity sensor head for Cirrus WS-450", "Spare part",
     89.00, "piece", 1, 10, "active"),
    ("CIR-SP-BATT", "LiFePO4 battery pack for Cirrus WS-450", "Spare part",
     79.00, "piece", 2, 15, "active"),
    ("CIR-SP-MAGNET", "Reset magnet for Cirrus WS-450", "Spare part",
     6.00, "piece", 0, 5, "active"),
    ("NIM-LG8-IN", "Nimbus LG-8 LoRaWAN gateway, indoor", "Hardware",
     689.00, "piece", 2, 10, "active"),
    ("NIM-LG8-OUT", "Nimbus LG-8 LoRaWAN gateway, outdoor", "Hardware",
     949.00, "piece", 2, 20, "active"),
    ("NIM-ACC-LTE", "LTE backhaul module for Nimbus LG-8", "Accessory",
     129.00, "piece", 2, 10, "active"),
    ("NIM-ACC-ANT5", "Outdoor antenna 5 dBi, 868 MHz, with 5 m cable", "Accessory",
     79.00, "piece", 2, 10, "active"),
    ("NIM-ACC-PSU12", "Power adapter 12 V DC for Nimbus LG-8 indoor", "Accessory",
     22.00, "piece", 1, 5, "active"),
    ("NIM-ACC-POEINJ", "PoE+ injector 802.3at", "Accessory",
     34.00, "piece", 1, 5, "active"),
    ("NIM-ACC-SURGE", "Lightning surge arrester, N-type, for outdoor antennas", "Accessory",
     49.00, "piece", 2, 15, "active"),
    ("CLD-BASIC-Y", "Aurelwind Cloud Basic, per device and year (13-month data retention)",
     "Software", 24.00, "device/year", 0, 0, "active"),
    ("CLD-PRO-Y", "Aurelwind Cloud Pro, per device and year (5-year data retention, reports)",
     "Software", 48.00, "device/year", 0, 0, "active"),
    ("CLD-GW-Y", "Aurelwind Cloud gateway management, per gateway and year", "Software",
     60.00, "gateway/year", 0, 0, "active"),
    ("SUP-PRIO-Y", "Priority support plan, per organisation and year", "Support",
     2400.00, "organisation/year", 0, 0, "active"),
    ("SUP-CRIT-Y", "Critical support plan, per organisation and year", "Support",
     7900.00, "organisation/year", 0, 0, "active"),
    ("SVC-INSTALL-D", "On-site installation by an Aurelwind technician, per day", "Service",
     1150.00, "day", 0, 20, "active"),
    ("SVC-SURVEY", "LoRaWAN radio coverage survey, per site", "Service",
     690.00, "site", 0, 15, "active"),
    ("SVC-CAL-STR", "Laboratory calibration of a Stratus AQ-200, with certificate",
     "Service", 95.00, "device", 0, 15, "active"),
    ("SVC-CAL-CIR", "Laboratory calibration of a Cirrus WS-450 sensor set, with certificate",
     "Service", 260.00, "device", 0, 20, "active"),
    ("SVC-TRAIN-H", "Remote training session, 2 hours, up to 10 participants", "Service",
     320.00, "session", 0, 10, "active"),
    ("SVC-TRAIN-D", "On-site training, 1 day, up to 12 participants", "Service",
     1450.00, "day", 0, 20, "active"),
    ("KIT-CLASS-10", "Classroom kit: 10 x Stratus AQ-200 Wi-Fi with desk stands", "Bundle",
     2790.00, "kit", 3, 10, "active"),
    ("KIT-CAMPUS", "Campus kit: Cirrus WS-450 Standard, Nimbus LG-8 outdoor, mast kit 3 m",
     "Bundle", 1790.00, "kit", 2, 20, "active"),
]
# fmt: on

OFFICES_COLUMNS = (
    "office_id",
    "name",
    "city",
    "country",
    "address",
    "phone",
    "functions",
    "employees",
)

# fmt: off
OFFICES: list[tuple[str, str, str, str, str, str, str, int]] = [
    ("ZRH", "Headquarters", "Zürich", "Switzerland", "Turbinenweg 7, 8005 Zürich",
     "+41 44 555 01 00", "Management; Sales; Finance; People; Calibration laboratory", 58),
    ("LYS", "Research and development centre", "Lyon", "France",
     "12 rue des Tanneurs, 69007 Lyon", "+33 4 55 50 12 00",
     "Hardware engineering; Firmware; Data science", 38),
    ("RTM", "Logistics centre", "Rotterdam", "Netherlands", "Havenstraat 210, 3024 Rotterdam",
     "+31 10 555 03 40", "Warehouse; Shipping; Returns and repairs", 21),
    ("GDN", "Customer support centre", "Gdańsk", "Poland", "ul. Bursztynowa 5, 80-001 Gdańsk",
     "+48 58 555 07 70", "Customer support; Technical support; Inside sales", 23),
]
# fmt: on

FAQ: list[dict[str, str]] = [
    {
        "id": "faq-001",
        "category": "Stratus AQ-200",
        "question": "Does the Stratus keep working when the internet connection is down?",
        "answer": "Yes. The monitor keeps measuring and shows the readings on its screen and "
        "status ring. It stores the data locally and uploads it when the connection "
        "returns. Alerts are evaluated in the cloud, so they are sent only once the "
        "monitor is back online.",
        "updated": "2025-01-14",
    },
    {
        "id": "faq-002",
        "category": "Stratus AQ-200",
        "question": "Can I run a Stratus monitor on batteries?",
        "answer": "No. The Stratus AQ-200 is powered by USB-C or, for the PoE variant, by "
        "Power over Ethernet. A USB power bank can be used for short periods, for "
        "example during a manual calibration.",
        "updated": "2025-01-14",
    },
    {
        "id": "faq-003",
        "category": "Aurelwind Cloud",
        "question": "Is there an API to get our measurement data?",
        "answer": "Yes. The Aurelwind Cloud REST API (version 2) is available at "
        "https://api.aurelwind.example/v2 for all subscriptions. Create API keys in the "
        "Aurelwind Connect app under Organisation > API keys. Each key may make up to "
        "120 requests per minute; requests above the limit receive HTTP status 429. "
        "Contact sales if you need a higher limit.",
        "updated": "2025-02-03",
    },
    {
        "id": "faq-004",
        "category": "Aurelwind Cloud",
        "question": "Where is our data stored?",
        "answer": "All measurement data is stored in data centres in Switzerland and "
        "Germany. Data is encrypted in transit and at rest. Aurelwind does not sell or "
        "share measurement data with third parties.",
        "updated": "2024-11-20",
    },
    {
        "id": "faq-005",
        "category": "Aurelwind Cloud",
        "question": "In which formats can I export data?",
        "answer": "You can export readings as CSV or JSON from the Aurelwind Connect app, "
        "for a single device or a whole site, at the original resolution or as hourly "
        "and daily averages.",
        "updated": "2024-11-20",
    },
    {
        "id": "faq-006",
        "category": "Aurelwind Cloud",
        "question": "Is a cloud subscription included when I buy a device?",
        "answer": "Yes. Every new Stratus and Cirrus device includes the first year of "
        "Aurelwind Cloud Basic. After the first year the subscription is renewed at the "
        "price list rate unless you cancel it.",
        "updated": "2025-01-02",
    },
    {
        "id": "faq-007",
        "category": "Cirrus WS-450",
        "question": "Can the Cirrus weather station use a public or third-party LoRaWAN network?",
        "answer": "Yes. The Cirrus WS-450 works with any LoRaWAN network server that "
        "supports the EU868 band. Register the station with the keys from its "
        "calibration certificate.",
        "updated": "2024-09-30",
    },
    {
        "id": "faq-008",
        "category": "Nimbus LG-8",
        "question": "How many sensors can one Nimbus gateway handle?",
        "answer": "With Aurelwind sensors at their default reporting intervals, one Nimbus "
        "LG-8 comfortably serves up to 500 devices. The practical limit depends on the "
        "reporting interval and on radio conditions; a coverage survey helps plan "
        "larger sites.",
        "updated": "2024-09-30",
    },
    {
        "id": "faq-009",
        "category": "Integrations",
        "question": "Do you support Home Assistant or other smart home systems?",
        "answer": "There is a community integration for Home Assistant that uses the "
        "Aurelwind Cloud API. It is not developed or supported by Aurelwind. For "
        "building management systems we recommend webhooks or the API.",
        "updated": "2025-02-03",
    },
    {
        "id": "faq-010",
        "category": "General",
        "question": "Where can I download manuals and datasheets?",
        "answer": "All manuals, datasheets, declarations of conformity and firmware "
        "release notes are available on the support portal at "
        "support.aurelwind.example, under Documents.",
        "updated": "2024-06-12",
    },
    {
        "id": "faq-011",
        "category": "General",
        "question": "Can I buy Aurelwind products through a local reseller?",
        "answer": "Yes. Aurelwind sells directly and through registered resellers and "
        "system integrators. Ask our sales team for a partner near you.",
        "updated": "2024-06-12",
    },
]
